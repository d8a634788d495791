"""Panoptic tube-id discrimination, L_tube_disc of Eq. 6 (paper §V-C4, Fig. 6; SPEC §4, §9 "Eq. 6").

U = the semantic head's pixel embedding (before its classifier), L2-normalised per pixel. For each
segment code i present in the target frame: u_i = normalise(mean of U_t over the segment's pixels);
if the code is also present in the reference frame (the same stuff class, or the same ground-truth
track id), the tube embedding is normalise((u_i + u_i^ref) / 2), with u_i^ref pooled the same way
from U_ref; otherwise it is u_i. Reference segments whose code is not in the target are unused.
Each labelled target pixel classifies itself among the N_seg tube embeddings:
logits_i = u_i · U_hw / temperature (SPEC §9: temperature 0.1; Eq. 6 writes none), CE against its own
segment (Eq. 6's numerator is one-hot); mean over labelled pixels (Eq. 6 sums; the mean keeps the
scale independent of the image size). Gradients flow into both frames' embeddings. Training only.
"""
import torch
import torch.nn.functional as F

__all__ = ["tube_discrimination_loss"]


def _pool(emb: torch.Tensor, index: torch.Tensor, num: int) -> torch.Tensor:
    """Mean of emb (P, E) rows per index (P,) in [0, num) -> (num, E), then L2-normalised."""
    sums = emb.new_zeros((num, emb.shape[1])).index_add_(0, index, emb)
    counts = torch.bincount(index, minlength=num).clamp(min=1).to(emb.dtype)
    return F.normalize(sums / counts[:, None], dim=1)


def tube_discrimination_loss(
    emb_t: torch.Tensor,
    emb_ref: torch.Tensor,
    codes_t: torch.Tensor,
    codes_ref: torch.Tensor,
    temperature: float = 0.1,
) -> torch.Tensor:
    """Eq. 6 for one target/reference pair.

    Args:
        emb_t, emb_ref: (E, h, w) pixel embeddings of the target and reference frames.
        codes_t, codes_ref: (h, w) int64 segment codes at the embedding resolution; equal codes in the
            two frames = the same tube; -1 (any negative) = ignored.
        temperature: divides the cosine similarities.
    """
    if codes_t.shape != emb_t.shape[-2:] or codes_ref.shape != emb_ref.shape[-2:]:
        raise ValueError(
            f"codes {tuple(codes_t.shape)}/{tuple(codes_ref.shape)} must match the embeddings' sizes "
            f"{tuple(emb_t.shape[-2:])}/{tuple(emb_ref.shape[-2:])}"
        )
    e = emb_t.shape[0]
    pix_t = F.normalize(emb_t.float().reshape(e, -1).t(), dim=1)  # (P, E)
    codes_t = codes_t.to(emb_t.device).flatten()
    labelled = codes_t >= 0
    if not bool(labelled.any()):
        return emb_t.sum() * 0.0 + emb_ref.sum() * 0.0
    pix_t = pix_t[labelled]
    uniq, index_t = torch.unique(codes_t[labelled], return_inverse=True)
    tubes = _pool(pix_t, index_t, len(uniq))

    codes_ref = codes_ref.to(emb_ref.device).flatten()
    pos = torch.searchsorted(uniq, codes_ref).clamp(max=len(uniq) - 1)
    matched = (codes_ref >= 0) & (uniq[pos] == codes_ref)
    if bool(matched.any()):
        pix_r = F.normalize(emb_ref.float().reshape(e, -1).t()[matched], dim=1)
        index_r = pos[matched]
        ref = _pool(pix_r, index_r, len(uniq))
        in_ref = torch.bincount(index_r, minlength=len(uniq)) > 0
        tubes = torch.where(in_ref[:, None], F.normalize(tubes + ref, dim=1), tubes)  # (u + u_ref)/2, normalised

    logits = pix_t @ tubes.t() / temperature  # (P_labelled, N_seg)
    return F.cross_entropy(logits, index_t)
