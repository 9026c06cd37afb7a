"""The on-disk cache of preprocessed bundled datasets (issue 21: instant first view)."""

from __future__ import annotations

import numpy as np
import pytest

from core.data.cache import bundled_source, cache_key, cache_root, cached_preprocess
from core.data.io import read
from core.data.preprocess import PreprocessConfig


@pytest.fixture(scope="module")
def zeisel():
    return read("zeisel_cortex").adata


def test_second_call_reads_the_same_data_from_disk(zeisel, tmp_path):
    source = bundled_source("zeisel_cortex")
    first, hit1 = cached_preprocess(zeisel, PreprocessConfig(), source=source, root=tmp_path)
    second, hit2 = cached_preprocess(zeisel, PreprocessConfig(), source=source, root=tmp_path)
    assert (hit1, hit2) == (False, True)
    assert np.allclose(np.asarray(first.X), np.asarray(second.X))
    assert list(first.var_names) == list(second.var_names)
    assert second.uns["preprocess"]["scale"] == first.uns["preprocess"]["scale"]
    assert "counts" in second.layers
    assert len(list((tmp_path / "preprocessed").glob("*.h5ad"))) == 1


def test_settings_change_the_key(zeisel, tmp_path):
    source = bundled_source("zeisel_cortex")
    assert cache_key(source, PreprocessConfig()) != cache_key(source, PreprocessConfig(clip=5.0))
    other, hit = cached_preprocess(zeisel, PreprocessConfig(n_top_genes=50), source=source,
                                   root=tmp_path)
    assert not hit and int(other.var["highly_variable"].sum()) == 50


def test_corrupt_entry_is_rebuilt(zeisel, tmp_path):
    source = bundled_source("zeisel_cortex")
    cached_preprocess(zeisel, PreprocessConfig(), source=source, root=tmp_path)
    (entry,) = (tmp_path / "preprocessed").glob("*.h5ad")
    entry.write_bytes(b"not an h5ad")
    again, hit = cached_preprocess(zeisel, PreprocessConfig(), source=source, root=tmp_path)
    assert not hit and again.n_obs == zeisel.n_obs
    assert entry.stat().st_size > 1000


def test_uploads_and_disabled_cache_skip_the_disk(zeisel, tmp_path, monkeypatch):
    out, hit = cached_preprocess(zeisel, PreprocessConfig(), source=None, root=tmp_path)
    assert not hit and not (tmp_path / "preprocessed").exists()
    monkeypatch.setenv("SCVAE_CACHE_DIR", "none")
    assert cache_root() is None
    monkeypatch.setenv("SCVAE_CACHE_DIR", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    assert bundled_source("synthetic_grn") is None
