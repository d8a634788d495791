"""Item 6 of issue 14: the CLIs shorten only :class:`UserError` to one line; any other exception (a
bug in vps_d2) keeps its traceback, even a ``KeyError`` or ``ValueError``."""
import contextlib
import io
import unittest
from unittest import mock

from vps_d2.data.converters.common import ConversionError, run_cli
from vps_d2.engine.checkpoint import CheckpointError
from vps_d2.engine.predictor import WeightsMismatchError
from vps_d2.evaluation import __main__ as scorer
from vps_d2.evaluation.submission_io import EvaluationInputError
from vps_d2.utils.errors import UserError
from vps_d2.utils.video_io import InputError

from .common import load_script

SCORER_ARGS = ["--gt-json", "g.json", "--gt-dir", ".", "--pred-json", "p.json", "--pred-dir", "."]


def run_quietly(fn, *args):
    """``fn(*args)`` with stderr captured; returns (result, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        return fn(*args), err.getvalue()


class TestUserErrors(unittest.TestCase):
    def test_input_errors_are_user_errors(self):
        for cls in (ConversionError, CheckpointError, WeightsMismatchError, EvaluationInputError,
                    InputError):
            self.assertTrue(issubclass(cls, UserError), cls)

    def test_train_net(self):
        train_net = load_script("train_net.py")
        argv = ["train_net.py", "--config-file", train_net.__file__]  # any existing file
        with mock.patch("sys.argv", argv):
            with mock.patch.object(train_net, "launch", side_effect=UserError("cfg.yaml: bad key")):
                code, err = run_quietly(train_net.invoke_main)
            self.assertEqual((code, err.strip()), (2, "train_net.py: error: cfg.yaml: bad key"))
            for bug in (KeyError("segments_info"), ValueError("shapes differ")):
                with mock.patch.object(train_net, "launch", side_effect=bug):
                    with self.assertRaises(type(bug)):
                        train_net.invoke_main()

    def test_scorer(self):
        with mock.patch("vps_d2.evaluation.__main__.check_folders", side_effect=KeyError("x")):
            with self.assertRaises(KeyError):
                scorer.main(SCORER_ARGS)
        with mock.patch("vps_d2.evaluation.__main__.check_folders",
                        side_effect=EvaluationInputError("g.json: no 'annotations' field")):
            code, err = run_quietly(scorer.main, SCORER_ARGS)
        self.assertEqual((code, err.strip()), (1, "error: g.json: no 'annotations' field"))

    def test_converters(self):
        def bug():
            raise ValueError("internal")

        def user():
            raise ConversionError("release/x.json does not exist")

        with self.assertRaises(ValueError):
            run_cli("prepare_x.py", bug)
        code, err = run_quietly(run_cli, "prepare_x.py", user)
        self.assertEqual((code, err.strip()),
                         (2, "prepare_x.py: error: release/x.json does not exist"))


if __name__ == "__main__":
    unittest.main()
