"""The cases of the issue-19 fault sweep (run by benchmarks/fault_suite.py and, the cheap ones,
by tests/app/test_fault_sweep.py).

A case builds a hostile (or, as a control, a valid) input under a temporary folder and feeds it
to one entry point: the readers (``read_bytes`` as an upload does, ``read_path`` as the CLI
does), run import (``import_run_archive`` then everything a page reads of the run), a run folder
on disk (listing, loading), the CLI (``core.cli.main``) or a page (``AppTest``). It returns
what happened as text or raises; :func:`classify` turns that into ``refused`` (a one-line
message), ``ok`` or a failure (``traceback``, ``multi-line``, ``leaks a path``).
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BANNER = b"%%MatrixMarket matrix coordinate integer general\n"


@dataclass(frozen=True)
class Case:
    """One input and what should happen to it."""

    name: str
    category: str
    expected: str                    # "refused", "ok" or "either" (no traceback, no crash)
    run: Callable[[Path], str]
    cheap: bool = True               # in the pytest subset
    contains: str = ""               # a refusal's message must contain this


CASES: list[Case] = []


def case(name: str, category: str, expected: str, *, cheap: bool = True, contains: str = ""):
    """Register ``fn(tmp) -> str`` as a case."""
    def deco(fn: Callable[[Path], str]) -> Callable[[Path], str]:
        unique = name if name not in {c.name for c in CASES} else f"{name} ({category})"
        CASES.append(Case(unique, category, expected, fn, cheap, contains))
        return fn
    return deco


# ---- builders ---------------------------------------------------------------------------------
class Gz(bytes):
    """Member content that is gzip-compressed already (built without holding the raw bytes)."""


def gz_repeat(head: bytes, chunk: bytes, times: int, tail: bytes = b"") -> Gz:
    """gzip of ``head + chunk * times + tail``, compressed as it is generated (a bomb)."""
    import zlib

    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts, block = [z.compress(head)], chunk * max(1, (1 << 20) // len(chunk))
    per = len(block) // len(chunk)
    for _ in range(times // per):
        parts.append(z.compress(block))
    parts.append(z.compress(chunk * (times % per) + tail))
    parts.append(z.flush())
    return Gz(b"".join(parts))


def tenx_zip(mtx: bytes, *, n_genes: int = 4, n_cells: int = 6, features: bytes | None = None,
             barcodes: bytes | None = None, folder: str = "m/", gz: bool = True) -> bytes:
    """A 10x zip (matrix.mtx, features.tsv, barcodes.tsv) from raw member contents."""
    feats = features if features is not None else "".join(
        f"ENSG{j}\tG{j}\tGene Expression\n" for j in range(n_genes)).encode()
    bars = barcodes if barcodes is not None else "".join(
        f"c{i}\n" for i in range(n_cells)).encode()
    buf = io.BytesIO()
    def pack(b: bytes) -> bytes:
        return b if isinstance(b, Gz) or not gz else gzip.compress(b)
    ext = ".gz" if gz else ""
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{folder}matrix.mtx{ext}", pack(mtx))
        zf.writestr(f"{folder}features.tsv{ext}", pack(feats))
        zf.writestr(f"{folder}barcodes.tsv{ext}", pack(bars))
    return buf.getvalue()


def good_mtx(n_genes: int = 4, n_cells: int = 6) -> bytes:
    lines = [f"{g + 1} {c + 1} {1 + (g + c) % 5}" for c in range(n_cells) for g in range(n_genes)]
    return BANNER + f"{n_genes} {n_cells} {len(lines)}\n".encode() + "\n".join(lines).encode()


def counts(n_cells: int = 40, n_genes: int = 12, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.poisson(2.0, size=(n_cells, n_genes)).astype(np.float32)
    x[:, 0] += 1
    x[0, :] += 1
    return x


def csv_text(x: np.ndarray, sep: str = ",") -> bytes:
    head = sep.join(["cell", *(f"G{j}" for j in range(x.shape[1]))])
    rows = [sep.join([f"c{i}", *(f"{v:g}" for v in row)]) for i, row in enumerate(x)]
    return ("\n".join([head, *rows]) + "\n").encode()


def h5ad_file(path: Path, x=None, **kwargs) -> Path:
    import anndata as ad
    import pandas as pd

    x = counts() if x is None else x
    obs = kwargs.pop("obs", None)
    if obs is None:
        obs = pd.DataFrame(index=[f"c{i}" for i in range(x.shape[0])])
    adata = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=[f"G{j}" for j in range(x.shape[1])]))
    adata.write_h5ad(path, **kwargs)
    return path


def upload(tmp: Path, data: bytes, filename: str, **kwargs) -> str:
    """Read ``data`` as the Data page reads an upload named ``filename``."""
    from core.data.io import read_bytes

    result = read_bytes(data, filename, **kwargs)
    return f"ok: {result.adata.n_obs} × {result.adata.n_vars} as '{result.name}'"


def from_path(tmp: Path, data: bytes, filename: str, **kwargs) -> str:
    """Read ``data`` written to ``tmp/filename`` as the CLI reads a path."""
    from core.data.io import read_path

    path = tmp / filename
    path.write_bytes(data)
    result = read_path(path, **kwargs)
    return f"ok: {result.adata.n_obs} × {result.adata.n_vars}"


# ---- 10x zips ---------------------------------------------------------------------------------
def _tenx(name: str, mtx: bytes | Callable[[], bytes], expected: str = "refused",
          contains: str = "", cheap: bool = True, **kw) -> None:
    def run(tmp: Path) -> str:
        data = tenx_zip(mtx() if callable(mtx) else mtx,
                        **{k: v() if callable(v) else v for k, v in kw.items()})
        return upload(tmp, data, "matrix.zip")
    case(name, "10x zip", expected, contains=contains, cheap=cheap)(run)


_tenx("declares 2e9 x 2e9 (417 bytes)", BANNER + b"2000000000 2000000000 1\n1 1 1\n",
      contains="declares 2,000,000,000 genes")
_tenx("declares 4x6 with 1e12 entries", BANNER + b"4 6 1000000000000\n1 1 1\n",
      contains="more than")
_tenx("declares 200k x 200k matching lists",
      lambda: BANNER + b"200000 200000 40000000000\n1 1 1\n", n_genes=200_000, n_cells=200_000,
      contains="GB of memory", cheap=False)
_tenx("matrix.mtx bomb (60 MB of lines)",
      lambda: gz_repeat(BANNER + b"4 6 3\n", b"1 1 1\n", 10_000_000),
      contains="unpacks to more than", cheap=False)
_tenx("features.tsv bomb (400 MB of 'G' lines)", good_mtx(),
      features=lambda: gz_repeat(b"", b"G\n", 200_000_000), cheap=False)
_tenx("barcodes.tsv bomb (400 MB of 'c' lines)", good_mtx(),
      barcodes=lambda: gz_repeat(b"", b"c\n", 200_000_000), cheap=False)
_tenx("features lists 5 genes, matrix 4", good_mtx(), n_genes=5, contains="lists more genes")
_tenx("barcodes lists 2 cells, matrix 6", good_mtx(), n_cells=2, contains="barcodes 2")
_tenx("entry row index beyond the declared rows", BANNER + b"4 6 1\n99 1 5\n")
_tenx("non-numeric value in matrix.mtx", BANNER + b"4 6 2\n1 1 abc\n2 2 3\n")
_tenx("negative dimension", BANNER + b"-4 6 1\n1 1 1\n")
_tenx("no size line", BANNER + b"% only comments\n")
_tenx("array (dense) MatrixMarket", b"%%MatrixMarket matrix array integer general\n4 6\n"
      + b"1\n" * 24)
_tenx("empty matrix.mtx", b"")
_tenx("matrix.mtx of binary zeros", bytes(4096))
_tenx("fewer entries than declared", BANNER + b"4 6 10\n1 1 1\n")
_tenx("valid 4x6 (control)", good_mtx(), expected="ok")
_tenx("valid, not gzipped (control)", good_mtx(), expected="ok", gz=False)
_tenx("valid, '../' member names", good_mtx(), expected="either", folder="../../")
_tenx("all values zero", BANNER + b"4 6 0\n")


@case("member named .gz but not gzip", "10x zip", "refused")
def _not_gzip(tmp: Path) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for m in ("matrix.mtx.gz", "features.tsv.gz", "barcodes.tsv.gz"):
            zf.writestr(m, b"plain text, not gzip\n")
    return upload(tmp, buf.getvalue(), "m.zip")


@case("zip without a matrix", "10x zip", "refused", contains="missing matrix.mtx")
def _no_matrix(tmp: Path) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", b"hello")
    return upload(tmp, buf.getvalue(), "m.zip")


@case("truncated zip", "10x zip", "refused")
def _truncated_zip(tmp: Path) -> str:
    data = tenx_zip(good_mtx())
    return upload(tmp, data[: len(data) // 2], "m.zip")


@case("random bytes named .zip", "10x zip", "refused")
def _random_zip(tmp: Path) -> str:
    return upload(tmp, np.random.default_rng(0).bytes(5000), "m.zip")


@case("zip of zeros (3.4 MB)", "10x zip", "refused", cheap=False)
def _zeros_zip(tmp: Path) -> str:
    return upload(tmp, bytes(3_400_000), "m.zip")


@case("zip inside a zip", "10x zip", "refused")
def _nested_zip(tmp: Path) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("inner.zip", tenx_zip(good_mtx()))
    return upload(tmp, buf.getvalue(), "m.zip")


@case("symlink members", "10x zip", "refused")
def _symlink_zip(tmp: Path) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for m in ("matrix.mtx", "features.tsv", "barcodes.tsv"):
            info = zipfile.ZipInfo(m)
            info.external_attr = (0o120777 << 16)         # a symbolic link to /etc/passwd
            zf.writestr(info, "/etc/passwd")
    return upload(tmp, buf.getvalue(), "m.zip")


# ---- CSV / TSV --------------------------------------------------------------------------------
def _csv(name: str, data: bytes | Callable[[], bytes], filename: str = "t.csv",
         expected: str = "refused", contains: str = "", cheap: bool = True, **kw) -> None:
    def run(tmp: Path) -> str:
        return upload(tmp, data() if callable(data) else data, filename, **kw)
    case(name, "CSV/TSV", expected, contains=contains, cheap=cheap)(run)


_csv("valid 40x12 (control)", csv_text(counts()), expected="ok")
_csv("valid TSV (control)", csv_text(counts(), "\t"), "t.tsv", expected="ok")
_csv("valid csv.gz (control)", gzip.compress(csv_text(counts())), "t.csv.gz", expected="ok")
_csv("valid, transposed (control)", csv_text(counts().T), expected="ok", transpose=True)
_csv("empty file", b"", contains="empty file")
_csv("header only", b"cell,G1,G2\n")
_csv("single column", b"cell\nc1\nc2\n")
_csv("text value", b"cell,G1,G2\nc1,1,x\nc2,3,4\n", contains="non-numeric")
_csv("NaN values", csv_text(counts()).replace(b",2,", b",nan,", 5))
_csv("Inf values", csv_text(counts()).replace(b",2,", b",inf,", 5))
_csv("negative values", csv_text(-counts()), expected="either")
_csv("ragged rows", b"cell,G1,G2\nc1,1,2,3,4\nc2,1\n")
_csv("duplicate cell names", csv_text(counts()).replace(b"c1,", b"c0,"), expected="either")
_csv("binary garbage", np.random.default_rng(1).bytes(20_000))
_csv("UTF-16 text", csv_text(counts()).decode().encode("utf-16"))
_csv("semicolon separated", csv_text(counts(), ";"))
_csv("one cell", csv_text(counts(1, 12)), contains="1 cell")
_csv("one gene", csv_text(counts(40, 1)), contains="1 gene")
_csv("all zeros", csv_text(np.zeros((40, 12))))
_csv("one 10 MB line", lambda: b"cell," + b"1," * 5_000_000 + b"\n", cheap=False)
_csv("200k-column header, 3 rows", lambda: (b"cell," + b",".join(b"G%d" % j for j in range(200_000))
                                           + b"\n" + b"".join(b"c%d" % i + b",1" * 200_000
                                                              + b"\n" for i in range(3))),
     expected="either", cheap=False)
_csv("csv.gz bomb (300 MB of zeros)", lambda: gz_repeat(
    b"cell," + b",".join(b"G%d" % j for j in range(1000)) + b"\n",
    b"c," + b"0," * 999 + b"0\n", 150_000), "bomb.csv.gz", cheap=False)
_csv("truncated csv.gz", gzip.compress(csv_text(counts()))[:200], "t.csv.gz")
_csv("quoted fields with newlines", b'cell,"G\n1",G2\n"c\n1",1,2\n', expected="either")
_csv("unsupported extension .xlsx", csv_text(counts()), "t.xlsx", contains="unsupported")
_csv("no extension", csv_text(counts()), "data", contains="unsupported")
_csv("CSV named .h5ad", csv_text(counts()), "t.h5ad")
_csv("CSV named .h5", csv_text(counts()), "t.h5")
_csv("huge number 1e400", csv_text(counts()).replace(b",2,", b",1e400,", 3))
for _i, _fname in enumerate(["![x](http://198.51.100.7/a.png).csv", "**bold** `code`.csv",
                             "<img src=x onerror=alert(1)>.csv", ":material/home: $x^2$.csv",
                             "a\nb\r.csv", "null.csv", "../../../etc/passwd.csv",
                             "[link](javascript:alert(1)).csv"]):
    def _named(tmp: Path, _f=_fname) -> str:
        from core.data.io import read_bytes

        name = read_bytes(csv_text(counts()), _f).name
        bad = set("[]<>`*$:\\\n\r/")
        return f"ok: shown as {name!r}" if not bad & set(name) else f"markup kept: {name!r}"
    case(f"file name with markup #{_i + 1}", "file names", "ok")(_named)


# ---- h5ad / h5 --------------------------------------------------------------------------------
def _h5(name: str, build: Callable[[Path], Path], filename: str = "d.h5ad",
        expected: str = "refused", contains: str = "", cheap: bool = True) -> None:
    def run(tmp: Path) -> str:
        path = build(tmp)
        return upload(tmp, path.read_bytes(), filename)
    case(name, "h5ad/h5", expected, contains=contains, cheap=cheap)(run)


def _no_x(tmp: Path) -> Path:
    import anndata as ad
    import pandas as pd

    path = tmp / "nox.h5ad"
    ad.AnnData(obs=pd.DataFrame(index=[f"c{i}" for i in range(5)]),
               var=pd.DataFrame(index=["a", "b", "c"])).write_h5ad(path)
    return path


def _with(x) -> Callable[[Path], Path]:
    return lambda tmp: h5ad_file(tmp / "x.h5ad", x)


def _truncated(tmp: Path) -> Path:
    path = h5ad_file(tmp / "x.h5ad")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


def _nan(tmp: Path) -> Path:
    x = counts()
    x[3, 4] = np.nan
    return h5ad_file(tmp / "x.h5ad", x)


def _inf(tmp: Path) -> Path:
    x = counts()
    x[3, 4] = np.inf
    return h5ad_file(tmp / "x.h5ad", x)


def _huge_declared(tmp: Path) -> Path:
    import h5py

    path = tmp / "huge.h5ad"
    with h5py.File(path, "w") as f:
        f.create_dataset("X", shape=(1_000_000, 100_000), dtype="f4", chunks=(1000, 1000),
                         compression="gzip")
    return path


def _plain_hdf5(tmp: Path) -> Path:
    import h5py

    path = tmp / "p.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("whatever", data=np.arange(10))
    return path


def _bad_sparse(tmp: Path) -> Path:
    import anndata as ad
    import h5py
    import scipy.sparse as sp

    path = tmp / "sp.h5ad"
    ad.AnnData(sp.csr_matrix(counts())).write_h5ad(path)
    with h5py.File(path, "r+") as f:
        indptr = f["X/indptr"][:]
        indptr[-1] = 10 ** 9                     # claims a billion values
        del f["X/indptr"]
        f["X/indptr"] = indptr
    return path


def _sparse_huge_shape(tmp: Path) -> Path:
    import anndata as ad
    import h5py
    import scipy.sparse as sp

    path = tmp / "sp.h5ad"
    ad.AnnData(sp.csr_matrix(counts())).write_h5ad(path)
    with h5py.File(path, "r+") as f:
        f["X"].attrs["shape"] = np.array([40, 2_000_000_000])
    return path


def _labels(values) -> Callable[[Path], Path]:
    import pandas as pd

    def build(tmp: Path) -> Path:
        obs = pd.DataFrame({"cell_type": values}, index=[f"c{i}" for i in range(40)])
        return h5ad_file(tmp / "l.h5ad", counts(), obs=obs)
    return build


_h5("valid h5ad (control)", _with(counts()), expected="ok")
_h5("h5ad without X", _no_x, contains="X is missing")
_h5("h5ad renamed .h5", _with(counts()), "d.h5", expected="either")
_h5("truncated h5ad", _truncated, contains="truncated")
_h5("NaN in X", _nan, contains="NaN")
_h5("Inf in X", _inf, contains="infinite")
_h5("one cell", _with(counts(1, 12)), contains="1 cell")
_h5("one gene", _with(counts(40, 1)), contains="1 gene")
_h5("zero cells", _with(np.zeros((0, 12), np.float32)))
_h5("all zeros", _with(np.zeros((40, 12), np.float32)))
_h5("negative values", _with(-counts()), expected="either")
_h5("declares 400 GB dense X", _huge_declared, contains="GB of memory")
_h5("plain HDF5, not AnnData", _plain_hdf5)
_h5("sparse X whose indptr claims 1e9 values", _bad_sparse)
_h5("sparse X declaring 2e9 genes", _sparse_huge_shape)
_h5("random bytes named .h5ad", lambda tmp: (tmp / "r.h5ad").write_bytes(
    np.random.default_rng(2).bytes(9000)) and tmp / "r.h5ad")
_h5("random bytes named .h5", lambda tmp: (tmp / "r.h5").write_bytes(
    np.random.default_rng(3).bytes(9000)) and tmp / "r.h5", "d.h5")
_h5("label column with NaN", _labels(["a", "b", None, "a"] * 10), expected="ok")
_h5("label column with one category", _labels(["a"] * 40), expected="ok")
_h5("label column all NaN", _labels([np.nan] * 40), expected="ok")
_h5("float64 X (control)", _with(counts().astype(np.float64)), expected="ok")
_h5("int X (control)", _with(counts().astype(np.int32)), expected="ok")


@case("plain HDF5 named .h5 hides server paths", "h5ad/h5", "refused")
def _renamed_path(tmp: Path) -> str:
    return upload(tmp, _plain_hdf5(tmp).read_bytes(), "mine.h5")


@case("CLI reads a truncated h5ad path", "h5ad/h5", "refused", contains="truncated")
def _cli_trunc(tmp: Path) -> str:
    path = _truncated(tmp)
    return from_path(tmp, path.read_bytes(), "t.h5ad")


@case("scores with a NaN / one-category label", "labels", "ok")
def _score_labels(tmp: Path) -> str:
    import pandas as pd

    from core.analysis.scoring import labels_of, score_latent
    from core.data.io import read_path

    out = []
    for values in (["a", "b", None, "a"] * 10, ["a"] * 40, [np.nan] * 40):
        obs = pd.DataFrame({"lab": values}, index=[f"c{i}" for i in range(40)])
        adata = read_path(h5ad_file(tmp / "l.h5ad", counts(), obs=obs)).adata
        latent = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
        metrics, _ = score_latent(adata.X, latent, labels_of(adata, "lab"), seeds=(0,))
        out.append(len(metrics))
    return f"ok: {out} scores"


@case("preprocess a one-gene-left matrix (PCA 0 comps)", "labels", "refused")
def _pca_one_gene(tmp: Path) -> str:
    import anndata as ad

    from core.data.preprocess import PreprocessConfig, preprocess

    x = counts(40, 12)
    x[:, 1:] = 0
    adata = preprocess(ad.AnnData(x), PreprocessConfig(min_cells=1))
    from core.analysis.scoring import score_latent
    score_latent(adata.X, np.zeros((40, 2), np.float32), None, seeds=(0,))
    return f"ok: {adata.shape}"


# ---- run import -------------------------------------------------------------------------------
def tiny_run_files(tmp: Path) -> dict[str, bytes]:
    """The files of a small valid β-VAE run folder (5 genes, 3 cells)."""
    import pandas as pd

    from core.models.vae import BetaVAE
    from core.runs import save_run

    module = BetaVAE(5, 2, [4])
    config = {"model": "betavae", "module": module.init_kwargs, "settings": {},
              "data": {"name": "toy", "fingerprint": "abc", "n_obs": 3, "n_vars": 5}}
    path = save_run(tmp / "src" / "r", config=config, metrics={"ari_kmeans_vae": 0.5},
                    history=pd.DataFrame({"epoch": [1], "train_loss": [1.0]}),
                    module=module, latent=np.zeros((3, 2)))
    return {f.name: f.read_bytes() for f in path.iterdir()}


class Zeros(int):
    """A member of this many zero bytes, written in 1 MB pieces (never held whole)."""


def run_zip(files: dict[str, bytes], folder: str = "run1") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            arc = f"{folder}/{name}" if folder else name
            if isinstance(content, Zeros):
                with zf.open(arc, "w", force_zip64=True) as fh:
                    for _ in range(content // 2 ** 20):
                        fh.write(bytes(2 ** 20))
            else:
                zf.writestr(arc, content)
    return buf.getvalue()


def use_run(run) -> str:
    """Everything a page reads of an imported run."""
    from core.runs import list_runs
    from core.runs.schema import unreadable_runs

    _ = (run.latent, run.arrays, run.history, run.metrics)
    if (run.path / "model.pt").is_file():
        run.load_module()
    listed = [r.id for r in list_runs(run.path.parent)]
    unreadable = unreadable_runs(run.path.parent)
    return f"ok: imported {run.id}, listed {listed}, {len(unreadable)} unreadable"


def _import(name: str, mutate: Callable[[dict[str, bytes]], dict[str, bytes] | bytes],
            expected: str = "refused", contains: str = "", folder: str = "run1",
            cheap: bool = True) -> None:
    def run(tmp: Path) -> str:
        from core.runs import import_run_archive

        made = mutate(tiny_run_files(tmp))
        data = made if isinstance(made, bytes) else run_zip(made, folder)
        root = tmp / "runs"
        try:
            return use_run(import_run_archive(data, root))
        finally:
            left = [p.name for p in root.iterdir()] if root.is_dir() else []
            if expected == "refused" and left:
                raise AssertionError(f"a refused import left {left} in the runs folder")
    case(name, "run import", expected, contains=contains, cheap=cheap)(run)


def _cfg(change: Callable[[dict], object]) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    def mutate(files: dict[str, bytes]) -> dict[str, bytes]:
        config = json.loads(files["config.json"])
        new = change(config)
        files["config.json"] = json.dumps(config if new is None else new).encode()
        return files
    return mutate


def _set(path: tuple[str, ...], value) -> Callable[[dict], None]:
    def change(config: dict) -> None:
        obj = config
        for key in path[:-1]:
            obj = obj[key]
        obj[path[-1]] = value
    return change


def _files(**replace: bytes | None) -> Callable[[dict[str, bytes]], dict[str, bytes]]:
    def mutate(files: dict[str, bytes]) -> dict[str, bytes]:
        for k, v in replace.items():
            k = k.replace("__", ".")
            if v is None:
                files.pop(k, None)
            else:
                files[k] = v
        return files
    return mutate


def _huge_npy(shape: tuple[int, ...]) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": "<f4", "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue() + bytes(64)


_import("valid run (control)", lambda f: f, expected="ok")
_import("config is a list", _cfg(lambda c: [1, 2]), contains="should be an object")
_import("config is a string", _cfg(lambda c: "xyz"), contains="should be an object")
_import("config 'data' is a string", _cfg(_set(("data",), "xyz")), contains="config['data']")
_import("config 'module' is a list", _cfg(_set(("module",), [1])))
_import("config 'model' is a number", _cfg(_set(("model",), 3)))
_import("config 'model' unknown", _cfg(_set(("model",), "evil")))
_import("config without 'model'", _cfg(lambda c: {k: v for k, v in c.items() if k != "model"}))
_import("n_input is a string", _cfg(_set(("module", "n_input"), "5")))
_import("n_input = 500000 (4 GB model)", _cfg(lambda c: c["module"].update(
    n_input=500_000, hidden=[1024, 512, 256])), contains="GB")
_import("n_input = 1e15", _cfg(_set(("module", "n_input"), 10 ** 15)))
_import("hidden = [2e9]", _cfg(_set(("module", "hidden"), [2_000_000_000])))
_import("n_latent = -1", _cfg(_set(("module", "n_latent"), -1)))
_import("n_latent = true", _cfg(_set(("module", "n_latent"), True)))
_import("unknown module argument", _cfg(_set(("module", "surprise"), 1)))
_import("schema_version 99", _cfg(_set(("schema_version",), 99)), contains="newer version")
_import("schema_version 'x'", _cfg(_set(("schema_version",), "x")))
_import("schema_version 1 (old run loads)", _cfg(lambda c: {k: v for k, v in c.items()
                                                           if k != "schema_version"}),
        expected="ok")
_import("data.fingerprint is a number", _cfg(_set(("data", "fingerprint"), 3)))
_import("data.n_obs negative", _cfg(_set(("data", "n_obs"), -3)))
_import("config nested 100000 deep", _files(config__json=b"[" * 100_000 + b"]" * 100_000))
_import("config not UTF-8", _files(config__json=b"\xff\xfe{\x00"))
_import("config not JSON", _files(config__json=b"{model: betavae"))
_import("config NaN literal", _files(config__json=b'{"model": "betavae", "seed": NaN}'))
_import("config 40 MB", lambda f: _files(config__json=b'{"model": "betavae", "pad": "'
                                         + b"x" * 40_000_000 + b'"}')(f), cheap=False)
_import("config.json missing", _files(config__json=None), contains="no config.json")
_import("metrics is a list", _files(metrics__json=b"[1, 2]"), contains="metrics.json")
_import("metrics is a string", _files(metrics__json=b'"xyz"'))
_import("metrics value a string", _files(metrics__json=b'{"ari_kmeans_vae": "high"}'))
_import("metrics 'message' a number", _files(metrics__json=b'{"message": 3}'))
_import("metrics damaged", _files(metrics__json=b"{not json"))
_import("model.pt garbage", _files(model__pt=b"not a torch file" * 10))
_import("model.pt empty", _files(model__pt=b""))
_import("model.pt a pickle that runs code", _files(
    model__pt=b"cos\nsystem\n(S'echo pwned > /tmp/pwned'\ntR."))
_import("model.pt of the wrong shapes", lambda f: {**f, "config.json": json.dumps(
    {**json.loads(f["config.json"]), "module": {**json.loads(f["config.json"])["module"],
                                                "hidden": [8]}}).encode()})
_import("model.pt missing", _files(model__pt=None), expected="either")
_import("latent.npy truncated", lambda f: {**f, "latent.npy": f["latent.npy"][:70]})
_import("latent.npy declares 1e6 x 1e6", _files(latent__npy=_huge_npy((10 ** 6, 10 ** 6))))
_import("latent.npy of object dtype", _files(latent__npy=(lambda b: (np.save(
    b, np.array([{"a": 1}], dtype=object), allow_pickle=True), b.getvalue())[1])(io.BytesIO())))
_import("extra array declares 1e12 values", _files(pca__npy=_huge_npy((10 ** 6, 10 ** 6))))
_import("history.csv garbage", _files(history__csv=b"\x00\x01\x02" * 100), expected="either")
_import("zip of zeros (3.4 MB)", lambda f: bytes(3_400_000))
_import("not a zip", lambda f: b"hello, I am not a zip")
_import("empty zip", lambda f: run_zip({}))
_import("zip bomb member (800 MB of zeros)", lambda f: {**f, "zeros.npy": Zeros(800 * 2 ** 20)},
        cheap=False)
_import("path traversal '../x' folder", lambda f: f, folder="..")
_import("path traversal '../../etc' members", lambda f: f, folder="../../etc")
_import("absolute member paths", lambda f: f, folder="/tmp/evil")
_import("folder name starting with '.'", lambda f: f, folder=".hidden", contains="hidden")
_import("folder named with markup", lambda f: f, folder="![x](http:__198.51.100.7_a.png)")
_import("files not in a folder", lambda f: f, folder="")
_import("two folders", lambda f: run_zip(f, "a")[:0] + _two_folders(f))
_import("nested folders", lambda f: f, folder="a/b")


def _two_folders(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for folder in ("a", "b"):
            for name, content in files.items():
                zf.writestr(f"{folder}/{name}", content)
    return buf.getvalue()


@case("symlink member in a run zip", "run import", "refused")
def _symlink_run(tmp: Path) -> str:
    from core.runs import import_run_archive

    files = tiny_run_files(tmp)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(f"run1/{name}", content)
        info = zipfile.ZipInfo("run1/pca.npy")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    return use_run(import_run_archive(buf.getvalue(), tmp / "runs"))


@case("import over an existing run", "run import", "refused", contains="already")
def _existing(tmp: Path) -> str:
    from core.runs import import_run_archive

    data = run_zip(tiny_run_files(tmp))
    import_run_archive(data, tmp / "runs")
    return use_run(import_run_archive(data, tmp / "runs"))


@case("declared sizes lie (header says 10 bytes)", "run import", "refused", cheap=False)
def _lying_header(tmp: Path) -> str:
    from core.runs import import_run_archive

    files = tiny_run_files(tmp)
    files["zeros.npy"] = Zeros(300 * 2 ** 20)
    data = bytearray(run_zip(files))
    # patch the uncompressed size of zeros.npy in its local and central headers to 10 bytes
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.getinfo("run1/zeros.npy")
    size = info.file_size.to_bytes(4, "little")
    data = bytes(data).replace(size, (10).to_bytes(4, "little"))
    return use_run(import_run_archive(data, tmp / "runs"))


# ---- run folders on disk ----------------------------------------------------------------------
def _folder(name: str, write: Callable[[Path], None], contains: str = "") -> None:
    def run(tmp: Path) -> str:
        from core.runs import list_runs
        from core.runs.schema import unreadable_runs

        root = tmp / "runs"
        files = tiny_run_files(tmp)
        good = root / "good"
        good.mkdir(parents=True)
        for k, v in files.items():
            (good / k).write_bytes(v)
        bad = root / "bad"
        bad.mkdir()
        for k, v in files.items():
            (bad / k).write_bytes(v)
        write(bad)
        listed = [r.id for r in list_runs(root)]
        unreadable = unreadable_runs(root)
        for r in list_runs(root):          # what a page does with a listed run
            _ = (r.latent, r.arrays, r.history)
            r.load_module()
        reasons = [u.reason for u in unreadable]
        if listed == ["good"] and len(reasons) == 1:
            raise _Refused(reasons[0])
        return f"ok: listed {listed}, unreadable {reasons}"
    case(name, "run folder", "refused", contains=contains)(run)


class _Refused(Exception):
    """A bad folder listed as unreadable with this reason (the expected refusal)."""


def _write(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda p: (p / name).write_bytes(content)


_folder("config is a list", _write("config.json", b"[1, 2]"))
_folder("config 'data' is a string", _write("config.json",
                                            b'{"model": "betavae", "data": "xyz", "module": {}}'))
_folder("metrics wrong shape", _write("metrics.json", b'{"ari_kmeans_vae": [1]}'))
_folder("config damaged", _write("config.json", b"{"))
_folder("config is 0 bytes", _write("config.json", b""))
_folder("config is a folder", lambda p: ((p / "config.json").unlink(),
                                         (p / "config.json").mkdir()))
_folder("n_input 500000", lambda p: (p / "config.json").write_text(json.dumps(
    {**json.loads((p / "config.json").read_text()),
     "module": {"n_input": 500_000, "n_latent": 10, "hidden": [1024]}})))
_folder("latent.npy truncated", lambda p: (p / "latent.npy").write_bytes(
    (p / "latent.npy").read_bytes()[:70]))
_folder("latent.npy declares 1e12 values", _write("latent.npy", _huge_npy((10 ** 6, 10 ** 6))))
_folder("model.pt garbage", _write("model.pt", b"junk" * 100))


@case("folder whose name starts with '.'", "run folder", "refused", contains="hidden")
def _hidden_folder(tmp: Path) -> str:
    from core.runs import list_runs
    from core.runs.schema import unreadable_runs

    root = tmp / "runs"
    path = root / ".secret"
    path.mkdir(parents=True)
    for k, v in tiny_run_files(tmp).items():
        (path / k).write_bytes(v)
    reasons = [u.reason for u in unreadable_runs(root)]
    if [r.id for r in list_runs(root)] == [] and len(reasons) == 1:
        raise _Refused(reasons[0])
    return f"ok: {reasons}"


@case("perturb on a run whose config is a list", "CLI", "refused", contains="config.json")
def _perturb_list(tmp: Path) -> str:
    run = tmp / "run"
    run.mkdir()
    (run / "config.json").write_text("[1, 2]")
    return cli(["perturb", str(run), "--set", "STAT1=0"])


# ---- CLI --------------------------------------------------------------------------------------
def cli(argv: list[str]) -> str:
    """``python -m core ARGV`` in-process: ``ok``, or raises :class:`CliRefused` with its line."""
    from core.cli import main

    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    text = err.getvalue()
    if code == 2:
        raise CliRefused(text.rstrip("\n"), text.count("\n"))
    if code == 0:
        return "ok: exit 0"
    return f"exit {code}: {text.strip()[:200]}"


class CliRefused(Exception):
    """Exit status 2 with this stderr (``lines`` newlines)."""

    def __init__(self, text: str, lines: int) -> None:
        super().__init__(text)
        self.lines = lines


_PREFIX = {"train": ["train", "--data", "none"], "network": ["network", "x"],
           "perturb": ["perturb", "x"], "predict": ["predict", "--data", "x", "--out", "o"],
           "phenotype train": ["phenotype", "train", "--data", "x"],
           "phenotype interactions": ["phenotype", "interactions", "x", "--out", "o"]}
_BAD = {"positive_int": ["abc", "0", "-1", "1.5", "nan", ""],
        "nonneg_int": ["abc", "-1", "2.5"],
        "positive_float": ["abc", "0", "-1", "nan", "inf"],
        "nonneg_float": ["abc", "-1", "nan"],
        "positive_int_list": ["abc", "0", "1,,2", "-5", "512,x"],
        "whole_number": ["abc", "1.5", "nan"],
        "number": ["abc", "nan", "1e999"]}


def _cli_cases() -> None:
    import argparse

    from core.cli import build_parser

    parser = build_parser()

    def parsers(p, prefix=()):
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for n, sp in a.choices.items():
                    yield from parsers(sp, (*prefix, n))
        yield " ".join(prefix), p

    seen = set()
    for cmd, p in parsers(parser):
        if cmd not in _PREFIX:
            continue
        for a in p._actions:
            kind = getattr(a.type, "__name__", None)
            if kind not in _BAD or not a.option_strings or (cmd, a.option_strings[0]) in seen:
                continue
            seen.add((cmd, a.option_strings[0]))
            for value in _BAD[kind]:
                argv = [*_PREFIX[cmd], a.option_strings[0], value]
                case(f"{cmd} {a.option_strings[0]} {value!r}", "CLI options", "refused",
                     contains=a.option_strings[0])(lambda tmp, argv=argv: cli(argv))


_cli_cases()
_TRAIN = ["train", "--data", "synthetic_grn", "--epochs", "1"]
for _opt, _value, _exp in [
        ("--latent", "-1", "refused"), ("--latent", "0", "refused"),
        ("--latent", "5000", "refused"),
        ("--dropout", "1.5", "refused"), ("--dropout", "-0.1", "refused"),
        ("--input-dropout", "1", "refused"), ("--hvg-weight", "-2", "refused"),
        ("--hidden", "2000000000", "refused"), ("--hidden", "100000,100000", "refused"),
        ("--device", "gpu9", "refused"), ("--likelihood", "poisson2", "refused"),
        ("--beta-schedule", "zigzag", "refused"), ("--model", "gan", "refused"),
        ("--label-key", "no_such_column", "refused"), ("--data", "no_such_dataset", "refused"),
        ("--batch-key", "no_such_column", "refused"),
        ("--n-top-genes", "1000000000", "either"), ("--batch-size", "1000000000", "either")]:
    _argv = _TRAIN + [_opt, _value] if _opt != "--data" else ["train", "--data", _value]
    case(f"train {_opt} {_value}", "CLI ranges", _exp, cheap=False)(
        lambda tmp, argv=_argv: cli([*argv, "--out", str(tmp / "r")]))
for _opt, _value in [("--max-tfs", "0"), ("--mask-sparsity", "101"), ("--mask-sparsity", "-1"),
                     ("--epochs-vae", "-1"), ("--l1", "-1"), ("--tf-consistency", "-1"),
                     ("--align-weight", "-1"), ("--mask-source", "nowhere"),
                     ("--tf-list", "/no/such/file.txt")]:
    case(f"train tfvae {_opt} {_value}", "CLI ranges", "refused", cheap=False)(
        lambda tmp, o=_opt, v=_value: cli([*_TRAIN, "--model", "tfvae", o, v,
                                           "--out", str(tmp / "r")]))
_FIX = ROOT / "tests" / "fixtures" / "runs" / "tfvae_gaussian"
for _set in ("=", "STAT1", "NOT_A_TF=1", "STAT1=abc", "STAT1=inf", "STAT1=1e308"):
    case(f"perturb --set {_set!r}", "CLI", "refused")(
        lambda tmp, s=_set: cli(["perturb", str(_FIX), "--set", s, "--out", str(tmp / "o.csv")]))
case("perturb on a folder that is not a run", "CLI", "refused")(
    lambda tmp: cli(["perturb", str(tmp), "--set", "A=1"]))
case("network on a β-VAE run", "CLI", "refused")(
    lambda tmp: cli(["network", str(ROOT / "tests/fixtures/runs/betavae_gaussian")]))
case("inspect a missing file", "CLI", "refused")(lambda tmp: cli(["inspect", str(tmp / "no.h5ad")]))
case("inspect a directory", "CLI", "refused")(lambda tmp: cli(["inspect", str(tmp)]))
case("train --out an existing non-empty folder", "CLI", "refused")(
    lambda tmp: ((tmp / "f").mkdir(), (tmp / "f" / "x").write_text("x"),
                 cli(["train", "--data", "synthetic_grn", "--out", str(tmp / "f")]))[-1])


# ---- pages (AppTest) --------------------------------------------------------------------------
_TRAINED: list[Path] = []


def _trained_root() -> Path:
    """A runs folder with one small TF-VAE run on synthetic_grn (trained once per worker)."""
    if not _TRAINED:
        import tempfile

        from core.data.io import read
        from core.data.preprocess import PreprocessConfig, preprocess
        from core.recipes.tfvae import train_tfvae
        from core.training.trainer import TrainConfig

        root = Path(tempfile.mkdtemp(prefix="fault_runs_"))
        adata = preprocess(read("synthetic_grn").adata, PreprocessConfig())
        train_tfvae(adata, dataset="synthetic_grn", runs_root=root,
                    model={"hidden": [16], "epochs_encoder": 2, "epochs_decoder": 3,
                           "epochs_masked": 1, "epochs_masked_fine": 1, "epochs_vae": 1},
                    train=TrainConfig(device="cpu", batch_size=256))
        _TRAINED.append(root)
    return _TRAINED[0]


def page(tmp: Path, path: str, mutate: Callable[[Path, Path], None], *,
         then: Callable | None = None) -> str:
    """Open ``path`` on the app with the trained run (changed by ``mutate(root, run_dir)``).

    Raises on a page exception; raises :class:`_Refused` with the page's error messages and
    unreadable-run reasons, if any; returns ``ok`` otherwise.
    """
    import os

    from streamlit.testing.v1 import AppTest

    root = tmp / "runs"
    shutil.copytree(_trained_root(), root)
    run_dir = next(p for p in root.iterdir() if p.is_dir())
    mutate(root, run_dir)
    os.environ["SCVAE_RUNS_DIR"] = str(root)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.switch_page(path).run()
    if at.exception:
        raise RuntimeError(f"page raised: {at.exception[0].value[:200]}")
    if then is not None:
        return then(at, root, run_dir)
    shown = [e.value for e in at.error] + [t.value for t in at.text if t.value.startswith("Run ")]
    if shown:
        if any("\n" in s for s in shown):
            return f"multi-line message: {shown[0][:200]!r}"
        raise _Refused(" | ".join(shown))
    return "ok: page drawn, nothing refused"


def _bad_folder(content: bytes, name: str = "bad", file: str = "config.json"):
    def mutate(root: Path, run_dir: Path) -> None:
        bad = root / name
        shutil.copytree(run_dir, bad)
        (bad / file).write_bytes(content)
    return mutate


def _in_run(file: str, content: bytes | Callable[[bytes], bytes]):
    def mutate(root: Path, run_dir: Path) -> None:
        p = run_dir / file
        p.write_bytes(content(p.read_bytes()) if callable(content) else content)
    return mutate


_PAGE_FOLDERS = {
    "config is a list": _bad_folder(b"[1, 2]"),
    "config 'data' is a string": _bad_folder(b'{"model": "tfvae", "data": "xyz", "module": {}}'),
    "metrics wrong shape": _bad_folder(b'{"ari_kmeans_vae": "high"}', file="metrics.json"),
    "name starting with '.'": _bad_folder(b'{"model": "scgen"}', name=".hidden"),
    "future schema version": _bad_folder(b'{"model": "scgen", "schema_version": 99}'),
}
for _label, _mutate in _PAGE_FOLDERS.items():
    case(f"Train page, folder: {_label}", "pages", "refused", cheap=False)(
        lambda tmp, m=_mutate: page(tmp, "app_pages/train.py", m))
_PAGE_RUNS = {
    "latent.npy truncated": _in_run("latent.npy", lambda b: b[: len(b) // 2]),
    "latent.npy declares 1e12 values": _in_run("latent.npy", _huge_npy((10 ** 6, 10 ** 6))),
    "model.pt garbage": _in_run("model.pt", b"junk" * 1000),
    "n_input 500000 in config": _in_run("config.json", lambda b: json.dumps(
        {**json.loads(b), "module": {**json.loads(b)["module"], "n_input": 500_000}}).encode()),
}
for _label, _mutate in _PAGE_RUNS.items():
    for _page in ("embedding", "network", "perturb"):
        case(f"{_page.title()} page, run: {_label}", "pages", "either", cheap=False)(
            lambda tmp, m=_mutate, p=_page: page(tmp, f"app_pages/{p}.py", m))


def _not_owner(at, root: Path, run_dir: Path) -> str:
    from core.runs.schema import set_owner

    set_owner(run_dir, "session:someone-else")
    at.run()
    captions = " ".join(c.value for c in at.caption)
    if "delete_run" in {b.key for b in at.button}:
        return "a non-owner was offered the delete button"
    if "Read-only: created by another session" not in captions:
        return "no read-only note for a non-owner"
    raise _Refused("Read-only: created by another session")


def _delete_unreadable(at, root: Path, run_dir: Path) -> str:
    at.button(key="delete_unreadable_0").click().run()
    if at.exception or (root / "bad").exists() or not run_dir.exists():
        return "the unreadable folder was not deleted cleanly"
    return "ok: unreadable folder deleted, the good run kept"


case("Train page: delete by a non-owner", "pages", "refused", cheap=False,
     contains="Read-only")(lambda tmp: page(tmp, "app_pages/train.py", lambda r, d: None,
                                            then=_not_owner))
case("Train page: delete an unreadable folder", "pages", "ok", cheap=False)(
    lambda tmp: page(tmp, "app_pages/train.py", _bad_folder(b"[1]"), then=_delete_unreadable))
