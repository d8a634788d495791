"""demo/video_demo.py on live sources, run as a separate process on real streams (issue 24): an
HTTP MJPEG server started here (read by OpenCV's FFmpeg backend, as an IP camera is), a named pipe,
a stream that breaks mid-way, Ctrl-C (SIGINT) with the mp4 finalised, and a missing camera."""
import glob
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.modeling import build_model

from .common import CONFIGS, REPO, get_config, write_small_synthetic

TINY = os.path.join(CONFIGS, "quick_schedules", "tiny_vpsnet_pp_cpu.yaml")
SCRIPT = os.path.join(REPO, "demo", "video_demo.py")


class MJPEGServer:
    """``http://127.0.0.1:PORT/stream.mjpg``: multipart/x-mixed-replace JPEG frames, as IP cameras
    serve them. ``frames`` are sent in a loop ``count`` times in all (None: until the client goes),
    every ``interval`` s; with ``break_after`` the stream sends that many frames, then half a JPEG,
    then resets the connection."""

    def __init__(self, jpegs, count=None, interval=0.0, break_after=None):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                sent = 0
                try:
                    while count is None or sent < count:
                        jpeg = jpegs[sent % len(jpegs)]
                        if break_after is not None and sent == break_after:
                            self.wfile.write(self._part(jpeg)[: 60 + len(jpeg) // 2])
                            self.wfile.flush()
                            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            return
                        self.wfile.write(self._part(jpeg))
                        sent += 1
                        server.sent = sent
                        time.sleep(interval)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            @staticmethod
            def _part(jpeg):
                return b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % len(jpeg) + jpeg + b"\r\n"

        self.sent = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def video_frames(path):
    cap = cv2.VideoCapture(path)
    count = 0
    while cap.read()[0]:
        count += 1
    cap.release()
    return count


class TestDemoStreams(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vps_d2_streams_")
        write_small_synthetic(cls.tmp, "val", videos=1, frames=6)
        frames = sorted(glob.glob(os.path.join(cls.tmp, "val", "img_all", "*.png")))
        cls.jpegs = [cv2.imencode(".jpg", cv2.imread(f))[1].tobytes() for f in frames]
        torch.manual_seed(0)
        DetectionCheckpointer(build_model(get_config(TINY)), save_dir=cls.tmp).save("tiny")
        cls.weights = os.path.join(cls.tmp, "tiny.pth")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.out = tempfile.mkdtemp(dir=self.tmp)

    def demo_command(self, source, *extra):
        return [sys.executable, SCRIPT, "--config-file", TINY, "--input", source,
                "--output", os.path.join(self.out, "out.mp4"), "--save-panoptic", os.path.join(self.out, "pan"),
                *extra, "--opts", "MODEL.WEIGHTS", self.weights, "DATALOADER.NUM_WORKERS", "0"]

    def run_demo(self, source, timeout=300):
        proc = subprocess.run(self.demo_command(source), capture_output=True, text=True, cwd=REPO, timeout=timeout)
        return proc.returncode, proc.stdout, proc.stderr

    def assert_finalised(self, frames):
        """out.mp4 plays with ``frames`` frames, one panoptic PNG each, no temporary file left."""
        self.assertEqual(sorted(os.listdir(self.out)), ["out.mp4", "pan"])
        self.assertEqual(video_frames(os.path.join(self.out, "out.mp4")), frames)
        pan = os.listdir(os.path.join(self.out, "pan"))
        self.assertEqual(len([p for p in pan if p.endswith(".png")]), frames, pan)
        self.assertFalse([p for p in pan if p.startswith(".")], "half-written files left")

    def test_http_mjpeg_stream(self):
        server = MJPEGServer(self.jpegs, count=8)
        self.addCleanup(server.close)
        code, out, err = self.run_demo(server.url)
        self.assertEqual(code, 0, err[-2000:])
        self.assertRegex(out, r"^8 frames at [0-9.]+ fps -> .*out.mp4 \(.* frames/s; end of stream\)")
        self.assert_finalised(8)

    def test_named_pipe(self):
        fifo = os.path.join(self.out, "..", "camera.mjpeg")
        os.mkfifo(fifo)
        self.addCleanup(os.remove, fifo)

        def feed():
            with open(fifo, "wb") as f:
                for jpeg in self.jpegs[:5]:
                    f.write(jpeg)

        threading.Thread(target=feed, daemon=True).start()
        code, out, err = self.run_demo(fifo)
        self.assertEqual(code, 0, err[-2000:])
        self.assertIn("5 frames at", out)
        self.assert_finalised(5)

    def test_stream_breaks_mid_way(self):
        server = MJPEGServer(self.jpegs, count=None, break_after=4)
        self.addCleanup(server.close)
        code, out, err = self.run_demo(server.url)
        self.assertEqual(code, 0, err[-2000:])
        frames = int(out.split()[0])
        self.assertIn(frames, (4, 5), out)  # FFmpeg may still decode the cut frame
        self.assertIn("end of stream", out)
        self.assert_finalised(frames)

    def test_ctrl_c_finalises_the_output(self):
        server = MJPEGServer(self.jpegs, count=None, interval=0.05)
        self.addCleanup(server.close)
        proc = subprocess.Popen(self.demo_command(server.url), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, cwd=REPO)
        pan = os.path.join(self.out, "pan")
        deadline = time.time() + 240
        while time.time() < deadline and proc.poll() is None:
            if os.path.isdir(pan) and len([p for p in os.listdir(pan) if p.endswith(".png")]) >= 3:
                break
            time.sleep(0.1)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 130, err[-2000:])
        self.assertRegex(out, r"^\d+ frames at .*; stopped by SIGINT\)")
        frames = int(out.split()[0])
        self.assertGreaterEqual(frames, 3)
        self.assertNotIn("Traceback", err)
        self.assert_finalised(frames)

    @unittest.skipUnless(re.search(r"GUI:\s+NONE", cv2.getBuildInformation()), "this OpenCV has a GUI")
    def test_live_source_without_output_or_window(self):
        server = MJPEGServer(self.jpegs, count=3)
        self.addCleanup(server.close)
        proc = subprocess.run([sys.executable, SCRIPT, "--config-file", TINY, "--input", server.url, "--opts",
                               "MODEL.WEIGHTS", self.weights], capture_output=True, text=True, cwd=REPO, timeout=300)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stderr.strip().splitlines()[-1],
                         "video_demo.py: error: --output: none given, and this OpenCV cannot show a window (no GUI "
                         "support, e.g. opencv-python-headless); give --output out.mp4 or a folder")

    @unittest.skipIf(os.path.exists("/dev/video9"), "a camera 9 exists here")
    def test_missing_camera_is_one_line(self):
        proc = subprocess.run(self.demo_command("9"), capture_output=True, text=True, cwd=REPO, timeout=300)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stderr.strip().splitlines()[-1],
                         "video_demo.py: error: --input 9: camera 9 could not be opened or gave no frame")
        self.assertEqual(os.listdir(self.out), [])


if __name__ == "__main__":
    unittest.main()
