"""Transcription-factor lists and prior TF→target networks shipped in ``assets/``.

Every prior loads as one tidy DataFrame with columns ``source`` (TF), ``target``, ``sign``
(+1 activation, −1 repression, 0 unknown) and ``confidence`` (DoRothEA's A–E; ``"-"`` where the
resource has no levels).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.data.registry import ASSETS_DIR
from core.errors import DataError

TF_LISTS: dict[str, str] = {
    "human_lambert2018": "lambert2018.txt",
    "human_hgnc": "hs_hgnc_tfs.txt",
    "human_hgnc_curated": "hs_hgnc_curated_tfs.txt",
    "mouse_mgi": "mm_mgi_tfs.txt",
}
DEFAULT_TF_LIST = {"human": "human_lambert2018", "mouse": "mouse_mgi"}

PRIORS: dict[str, tuple[str, str]] = {
    "dorothea_human": ("dorothea_hs.tsv.gz", "dorothea"),
    "dorothea_mouse": ("dorothea_mm.tsv.gz", "dorothea"),
    "trrust_human": ("trrust_human.tsv.gz", "trrust"),
    "trrust_mouse": ("trrust_mouse.tsv.gz", "trrust"),
    "collectri_human": ("collectri_human.tsv.gz", "collectri"),
}
DEFAULT_PRIOR = {"human": "dorothea_human", "mouse": "dorothea_mouse"}


def load_tf_list(name_or_path: str | Path) -> list[str]:
    """Return the TF symbols of a bundled list (see :data:`TF_LISTS`) or of a text file.

    A file holds one symbol per line (or a CSV whose first column holds them).
    """
    key = str(name_or_path)
    path = ASSETS_DIR / "tfs" / TF_LISTS[key] if key in TF_LISTS else Path(name_or_path)
    if not path.exists():
        raise DataError(
            f"No TF list '{name_or_path}'. Bundled lists: {', '.join(TF_LISTS)}; or give a "
            "text file with one gene symbol per line."
        )
    text = path.read_text(errors="replace").splitlines()
    names = [line.split(",")[0].split("\t")[0].strip() for line in text]
    names = [n for n in names if n and not n.startswith("#")]
    if not names:
        raise DataError(f"The TF list '{path.name}' is empty.")
    return list(dict.fromkeys(names))


def load_prior(name_or_path: str | Path, *, confidence: str = "ABC") -> pd.DataFrame:
    """Load a prior TF→target network.

    Parameters
    ----------
    name_or_path
        A key of :data:`PRIORS`, or a CSV/TSV path with columns ``source,target[,sign]``.
    confidence
        DoRothEA levels to keep (e.g. ``"ABC"``, the high-confidence default, or ``"ABCDE"``).
        Ignored for resources without levels.

    Returns
    -------
    pandas.DataFrame
        Columns ``source, target, sign, confidence``; one row per edge (a pair listed with
        conflicting signs gets sign 0).
    """
    key = str(name_or_path)
    if key in PRIORS:
        filename, kind = PRIORS[key]
        df = pd.read_csv(ASSETS_DIR / "priors" / filename, sep="\t",
                         header=None if kind == "trrust" else 0)
        df = _normalise(df, kind)
    else:
        df = _read_user_prior(Path(name_or_path))
    levels = set(confidence.upper())
    df = df[df["confidence"].isin(levels) | (df["confidence"] == "-")]
    return _merge_duplicate_edges(df)


def _merge_duplicate_edges(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (source, target), in first-seen order. TRRUST lists some pairs once per mode
    of regulation (e.g. Activation and Repression): the sign is kept where the non-zero signs
    listed for a pair agree, else it becomes 0 (unknown)."""
    dup = df.duplicated(["source", "target"], keep=False)
    if dup.any():
        nonzero = df["sign"].where(df["sign"] != 0)
        groups = nonzero.groupby([df["source"], df["target"]])
        low, high = groups.transform("min"), groups.transform("max")
        merged = low.where(low == high).fillna(0).astype(int)
        df = df.assign(sign=df["sign"].where(~dup, merged))
    return df.drop_duplicates(["source", "target"]).reset_index(drop=True)


def _normalise(df: pd.DataFrame, kind: str) -> pd.DataFrame:
    if kind == "dorothea":
        out = pd.DataFrame({"source": df["tf"], "target": df["target"],
                            "sign": df["mor"].astype(int), "confidence": df["confidence"]})
    elif kind == "trrust":
        signs = df[2].map({"Activation": 1, "Repression": -1}).fillna(0).astype(int)
        out = pd.DataFrame({"source": df[0], "target": df[1], "sign": signs, "confidence": "-"})
    else:
        out = pd.DataFrame({"source": df["source"], "target": df["target"],
                            "sign": df["weight"].astype(int), "confidence": "-"})
    return out


def _read_user_prior(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise DataError(
            f"No prior network '{path}'. Bundled priors: {', '.join(PRIORS)}; or give a CSV with "
            "columns source,target[,sign]."
        )
    sep = "\t" if path.name.lower().rstrip(".gz").endswith((".tsv", ".txt")) else ","
    try:
        df = pd.read_csv(path, sep=sep)
    except Exception as exc:
        raise DataError(f"Could not parse the prior network '{path.name}': {exc}") from exc
    cols = {c.lower(): c for c in df.columns}
    if "source" not in cols or "target" not in cols:
        raise DataError(
            f"The prior network '{path.name}' needs columns 'source' and 'target' (and optionally "
            f"'sign'); it has {', '.join(map(str, df.columns))}."
        )
    sign = df[cols["sign"]] if "sign" in cols else 0
    return pd.DataFrame({"source": df[cols["source"]].astype(str),
                         "target": df[cols["target"]].astype(str),
                         "sign": pd.Series(sign, index=df.index).fillna(0).astype(int),
                         "confidence": "-"})


def guess_species(gene_names) -> str:
    """``"mouse"`` when most symbols are capitalised (``Cd4``), else ``"human"`` (``CD4``)."""
    names = [str(g) for g in list(gene_names)[:2000] if str(g)[:1].isalpha()]
    if not names:
        return "human"
    mouse_like = sum(n[0].isupper() and n[1:].lower() == n[1:] and len(n) > 1 for n in names)
    return "mouse" if mouse_like > 0.5 * len(names) else "human"
