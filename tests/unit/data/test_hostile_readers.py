"""Issue 19, items 2, 3, 4 and 8: inputs refused before reading (declared or unpacked size) and
too-small or X-less matrices, each with a one-line message."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from core.data import limits, table
from core.data.io import read_path
from core.errors import DataError

ROOT = Path(__file__).resolve().parents[3]
BANNER = b"%%MatrixMarket matrix coordinate integer general\n"


def _tenx_zip(path: Path, mtx: bytes, *, n_genes: int = 4, n_cells: int = 6) -> Path:
    features = "".join(f"ENSG{j}\tG{j}\tGene Expression\n" for j in range(n_genes)).encode()
    barcodes = "".join(f"c{i}\n" for i in range(n_cells)).encode()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m/matrix.mtx.gz", gzip.compress(mtx))
        zf.writestr("m/features.tsv.gz", gzip.compress(features))
        zf.writestr("m/barcodes.tsv.gz", gzip.compress(barcodes))
    return path


def _peak_mb_of_read(path: Path) -> tuple[float, str]:
    """Read ``path`` in a fresh interpreter; (peak RSS in MB, the one-line error or 'ok').

    VmHWM, not ru_maxrss: a child's ru_maxrss starts at the pytest parent's (CI: ~2 GB).
    """
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from core.data.io import read_path\n"
        "from core.errors import DataError\n"
        "try:\n"
        f"    read_path(Path({str(path)!r})); msg = 'ok'\n"
        "except DataError as exc:\n"
        "    msg = str(exc)\n"
        "print(next(int(x.split()[1]) for x in open('/proc/self/status')\n"
        "           if x.startswith('VmHWM')) / 1024)\n"
        "print(msg)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    return float(out[0]), out[1]


def _peak_growth_mb_of_read(path: Path) -> tuple[float, str]:
    """Read ``path`` in a fresh interpreter; (peak RSS growth over the imports in MB, 'ok').

    VmHWM, not ru_maxrss: a child's ru_maxrss starts at the (large) pytest parent's RSS.
    """
    code = (
        "from pathlib import Path\n"
        "import anndata, pandas, scipy.sparse\n"
        "from core.data.io import read_path\n"
        "def hwm():\n"
        "    return next(int(x.split()[1]) for x in open('/proc/self/status')\n"
        "                if x.startswith('VmHWM'))\n"
        "before = hwm()\n"
        f"msg = 'ok' if read_path(Path({str(path)!r})) else ''\n"
        "print((hwm() - before) / 1024)\n"
        "print(msg)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=120, check=True).stdout.splitlines()
    return float(out[0]), out[1]


def test_10x_zip_declaring_a_huge_matrix_is_refused_from_its_header(tmp_path):
    path = _tenx_zip(tmp_path / "huge.zip", BANNER + b"2000000000 2000000000 1\n1 1 1\n")
    assert path.stat().st_size < 1024
    peak, msg = _peak_mb_of_read(path)
    assert "matrix.mtx declares 2,000,000,000 genes × 2,000,000,000 cells) needs about" in msg
    assert "\n" not in msg and peak < 1024


def test_10x_zip_with_more_entries_than_memory_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv(limits.BUDGET_ENV, "0.0005")      # 524 bytes; 24 values need 736
    path = _tenx_zip(tmp_path / "dense.zip", BANNER + b"4 6 24\n" + b"1 1 1\n" * 24)
    with pytest.raises(DataError, match="this server can give"):
        read_path(path)
    monkeypatch.setenv(limits.BUDGET_ENV, "1000")
    assert read_path(path).adata.shape == (6, 4)


def test_10x_zip_bomb_stops_after_the_declared_entries(tmp_path):
    body = b"1 1 1\n" * (60 * 1024 ** 2 // 6)            # 60 MB of lines, packs to ~100 kB
    path = _tenx_zip(tmp_path / "bomb.zip", BANNER + b"4 6 3\n" + body)
    assert path.stat().st_size < 1024 ** 2
    peak, msg = _peak_mb_of_read(path)
    assert "unpacks to more than 240 bytes" in msg
    assert peak < 1024


def test_features_list_bomb_is_capped(tmp_path, monkeypatch):
    monkeypatch.setattr(limits, "MAX_TEXT_MEMBER_BYTES", 1024)
    path = _tenx_zip(tmp_path / "f.zip", BANNER + b"500 6 1\n1 1 1\n", n_genes=500)
    with pytest.raises(DataError, match="features.tsv.gz lists more genes than matrix.mtx "
                                        "declares .500"):
        read_path(path)


def test_lists_longer_than_the_declared_matrix_stop_at_one_row_past_it(tmp_path):
    path = _tenx_zip(tmp_path / "f.zip", BANNER + b"4 6 1\n1 1 1\n", n_genes=5)
    with pytest.raises(DataError, match=r"features.tsv.gz lists more genes than matrix.mtx "
                                        r"declares \(4\)"):
        read_path(path)
    body = b"c\n" * 100_000_000                   # 200 MB of barcodes, packs to ~200 kB
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("matrix.mtx", BANNER + b"4 6 1\n1 1 1\n")
        zf.writestr("features.tsv", "".join(f"E{j}\tG{j}\n" for j in range(4)))
        zf.writestr("barcodes.tsv", body)
    del body
    peak, msg = _peak_mb_of_read(path)
    assert "barcodes.tsv lists more cells than matrix.mtx declares (6)" in msg
    assert peak < 1024                                # parsed whole: 1.5 GB


def test_hdf5_declaring_more_than_memory_is_refused_before_reading(tmp_path):
    import h5py

    path = tmp_path / "huge.h5ad"
    with h5py.File(path, "w") as f:           # 400 GB declared, a few kB on disk
        f.create_dataset("X", shape=(1_000_000, 100_000), dtype="f4", chunks=(1000, 1000),
                         compression="gzip")
    peak, msg = _peak_mb_of_read(path)
    assert "needs about 372.5 GB of memory" in msg
    assert peak < 1024


def test_csv_larger_than_memory_allows_is_refused_with_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setattr(table, "CHUNK_BYTES", 8 * 1024)         # 512 rows per chunk
    monkeypatch.setattr(table, "MIN_CHUNK_ROWS", 1)
    path = tmp_path / "t.csv"
    path.write_text("cell,G1,G2\n" + "".join(f"c{i},1,2\n" for i in range(5000)))
    budget = 4 * table.CHUNK_BYTES + 2000 * table.BYTES_PER_NONZERO     # 2,000 values
    monkeypatch.setenv(limits.BUDGET_ENV, str(budget / 1024 ** 2))
    with pytest.raises(DataError, match=r"'t.csv' needs more than 0.0 GB of memory as a sparse "
                                        r"matrix \(stopped after 1,024 rows\); this server can "
                                        r"give 0.0 GB. Convert it to .h5ad"):
        read_path(path)
    monkeypatch.setenv(limits.BUDGET_ENV, "100")
    adata = read_path(path).adata
    assert adata.shape == (5000, 2) and adata.X.nnz == 10_000
    assert table.table_memory_bound(1000) == 500 * 16 + 4 * table.CHUNK_BYTES


@pytest.mark.parametrize("transpose", [False, True])
def test_csv_chunks_stack_to_the_same_sparse_matrix(tmp_path, monkeypatch, transpose):
    monkeypatch.setattr(table, "CHUNK_BYTES", 8 * 3)            # one row per chunk
    monkeypatch.setattr(table, "MIN_CHUNK_ROWS", 1)
    rng = np.random.default_rng(0)
    dense = rng.poisson(0.3, size=(7, 5)).astype(np.float32)
    path = tmp_path / "t.tsv"
    pd.DataFrame(dense, index=[f"r{i}" for i in range(7)],
                 columns=["A", "B", "A", "C", "D"]).to_csv(path, sep="\t")
    adata = read_path(path, transpose=transpose).adata
    expected = dense.T if transpose else dense
    np.testing.assert_array_equal(adata.X.toarray(), expected)
    assert adata.X.nnz == np.count_nonzero(dense)
    names = list(adata.obs_names if transpose else adata.var_names)
    assert names == ["A", "B", "A-1", "C", "D"]      # repeated header names made unique


def test_csv_text_value_in_a_later_chunk_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(table, "CHUNK_BYTES", 8 * 2)
    monkeypatch.setattr(table, "MIN_CHUNK_ROWS", 1)
    path = tmp_path / "t.csv"
    path.write_text("cell,G1,G2\nc0,1,2\nc1,3,4\nc2,5,x\n")
    with pytest.raises(DataError, match="non-numeric value 'x' at cell 'c2', gene 'G2'"):
        read_path(path)


def test_dense_csv_peak_memory_is_a_few_times_the_file_not_20(tmp_path):
    path = tmp_path / "dense.csv"
    rng = np.random.default_rng(0)
    counts = rng.poisson(0.5, size=(4000, 1000))          # 20 MB of text, 40% non-zero
    pd.DataFrame(counts, index=[f"c{i}" for i in range(4000)],
                 columns=[f"G{j}" for j in range(1000)]).to_csv(path)
    size_mb = path.stat().st_size / 1024 ** 2
    grown, msg = _peak_growth_mb_of_read(path)
    assert msg == "ok"
    assert grown < 7 * size_mb, (grown, size_mb)     # whole dense parse: 110 MB here (14×)


def test_memory_budget_defaults_to_half_of_available(monkeypatch):
    monkeypatch.delenv(limits.BUDGET_ENV, raising=False)
    budget = limits.memory_budget_bytes()
    assert 0 < budget < 2 ** 50
    monkeypatch.setenv(limits.BUDGET_ENV, "1.5")
    assert limits.memory_budget_bytes() == int(1.5 * 1024 ** 2)


def test_capped_reader_counts_real_bytes():
    stream = limits.capped(io.BytesIO(b"x" * 100), 50, "member")
    with pytest.raises(DataError, match="'member' unpacks to more than 50 bytes"):
        stream.read()
    assert limits.capped(io.BytesIO(b"x" * 50), 50, "m").read() == b"x" * 50
    assert json.loads(limits.prefixed(b'{"a": ', io.BytesIO(b"1}")).read()) == {"a": 1}


@pytest.mark.parametrize("shape, message", [
    ((60, 1), "60 cell(s) × 1 gene(s)"), ((1, 20), "1 cell(s) × 20 gene(s)"),
])
def test_too_small_matrices_say_so(tmp_path, shape, message):
    path = tmp_path / "small.h5ad"
    ad.AnnData(np.ones(shape, dtype=np.float32)).write_h5ad(path)
    with pytest.raises(DataError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_path(path)


def test_h5ad_without_x_says_x_is_missing(tmp_path):
    path = tmp_path / "nox.h5ad"
    ad.AnnData(obs=pd.DataFrame(index=["a", "b", "c"]),
               var=pd.DataFrame(index=["g1", "g2"])).write_h5ad(path)
    with pytest.raises(DataError, match="X is missing"):
        read_path(path)


@pytest.mark.parametrize("filename, shown", [
    ("![x](http://198.51.100.7/a.png).csv", "a.png).csv"),
    ("a`**b**`.csv", "a___b___.csv"),
    (":material/home: $x$ <b>.csv", "home_ _x_ _b_.csv"),
    ("pbmc_3k (1).csv", "pbmc_3k (1).csv"),
])
def test_uploaded_file_names_lose_their_markup(filename, shown):
    from core.data.io import plain_name, read_bytes

    assert plain_name(filename) == shown
    data = b"cell,G1,G2\n" + b"".join(b"c%d,%d,2\n" % (i, i % 3 + 1) for i in range(30))
    result = read_bytes(data, filename)
    assert result.name == shown and result.adata.uns["dataset_name"] == shown
    with pytest.raises(DataError) as err:
        read_bytes(b"", filename)
    assert f"'{shown}'" in str(err.value) and "[" not in str(err.value)


def test_h5ad_renamed_h5_is_read_and_a_bad_h5_hides_the_server_path(tmp_path):
    import h5py

    from core.data.io import read_bytes

    ad.AnnData(np.ones((30, 4), np.float32) + np.eye(30, 4, dtype=np.float32)).write_h5ad(
        tmp_path / "a.h5ad")
    assert read_bytes((tmp_path / "a.h5ad").read_bytes(), "mine.h5").adata.shape == (30, 4)
    with h5py.File(tmp_path / "p.h5", "w") as f:
        f.create_dataset("whatever", data=np.arange(10))
    with pytest.raises(DataError) as err:
        read_bytes((tmp_path / "p.h5").read_bytes(), "mine.h5")
    assert "scvae_upload_" not in str(err.value) and "'mine.h5'" in str(err.value)


def test_sparse_x_whose_indptr_runs_past_the_data_is_refused(tmp_path):
    import h5py
    import scipy.sparse as sparse

    path = tmp_path / "sp.h5ad"
    ad.AnnData(sparse.csr_matrix(np.ones((30, 4), np.float32))).write_h5ad(path)
    with h5py.File(path, "r+") as f:
        indptr = f["X/indptr"][:]
        indptr[-1] = 10 ** 9
        del f["X/indptr"]
        f["X/indptr"] = indptr
    with pytest.raises(DataError, match="Could not read 'sp.h5ad' as .h5ad"):
        read_path(path)
