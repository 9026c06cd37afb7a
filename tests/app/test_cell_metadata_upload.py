"""A matrix upload with a cell-metadata CSV beside it (issue 21, item 5)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
N_CELLS, N_GENES = 40, 30


def _matrix_csv() -> bytes:
    rng = np.random.default_rng(0)
    counts = rng.poisson(3.0, size=(N_CELLS, N_GENES))
    rows = ["cell," + ",".join(f"G{j}" for j in range(N_GENES))]
    rows += [f"c{i}," + ",".join(map(str, counts[i])) for i in range(N_CELLS)]
    return "\n".join(rows).encode()


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv("SCVAE_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("SCVAE_DEFAULT_DATASET", "none")
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    at.radio(key="data_source").set_value("Upload a file").run()
    at.file_uploader(key="upload_file").set_value(("m.csv", _matrix_csv(), "text/csv")).run()
    return at


def _load(at: AppTest, meta: str) -> None:
    at.file_uploader(key="upload_meta").set_value(("meta.csv", meta.encode(), "text/csv")).run()
    at.button(key="load_upload").click().run()
    assert not at.exception, [e.value for e in at.exception]


def test_metadata_columns_become_labels_integers_included(app):
    meta = "barcode,cell_type,leiden\n" + "\n".join(
        f"c{i},{'TB'[i % 2]},{i % 4}" for i in reversed(range(N_CELLS)))
    _load(app, meta)
    assert not app.error
    assert set(app.selectbox(key="label_key").options) == {"cell_type", "leiden"}
    assert any("Added 2 cell annotation column(s) from 'meta.csv'" in i.value for i in app.info)


def test_duplicated_ids_are_one_line_and_nothing_is_loaded(app):
    _load(app, "cell,type\nc1,T\nc1,B\n")
    assert len(app.error) == 1 and "\n" not in app.error[0].value
    assert ("'meta.csv' has 1 duplicated cell ids in column 'cell' (e.g. 'c1'); each cell must "
            "appear once.") in app.error[0].value
    assert not app.header                   # no dataset was loaded from the bad pair
