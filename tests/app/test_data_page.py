"""The Data page under streamlit's AppTest: bundled datasets, uploads, bad files, preprocessing."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]
APPLY = "FormSubmitter:pp_form-Apply preprocessing"
TINY_CSV = b"cell,CD3E,MS4A1,LYZ,NKG7\nc1,1,0,3,0\nc2,0,4,1,2\nc3,2,2,0,1\nc4,5,0,0,1\n"


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


@pytest.fixture
def app() -> AppTest:
    """The whole app (st.navigation → Data page) after its first run on the default dataset."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.run()
    assert_clean(at)
    return at


def upload(at: AppTest, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
    if at.radio(key="data_source").value != "Upload a file":
        at.radio(key="data_source").set_value("Upload a file").run()
    at.file_uploader(key="upload_file").set_value((name, data, mime)).run()
    at.button(key="load_upload").click().run()


def test_starts_on_default_dataset(app):
    assert not app.error
    assert metrics(app) == {"Cells": "1,975", "Genes": "6,998", "X holds": "log-normalised",
                            "Genes after preprocessing": "6,547"}
    assert app.header[0].value == "`kang_pbmc`"
    sidebar = " ".join(m.value for m in app.sidebar.markdown)
    assert "**Dataset:** `kang_pbmc`  \n1,975 cells × 6,547 genes" in sidebar
    # Detected in the background so torch never delays the first view (tests/app/
    # test_first_minute.py checks the name arrives).
    assert "**Device:** detecting…" in sidebar or "**Device:** CPU (" in sidebar or "GPU" in sidebar
    assert app.selectbox(key="label_key").value == "cell_type"
    assert app.selectbox(key="label_key").options == ["condition", "cell_type"]
    # Already log-normalised: Auto means no normalise and no second log1p.
    assert any("**Auto** means: normalise off, log1p off, scale on." in c.value
               for c in app.caption)
    applied = app.session_state["dataset"].adata.uns["preprocess"]
    assert applied["log1p"] is False and applied["x_kind"] == "log-normalized"
    assert any("The data has no raw counts" in c.value for c in app.caption)
    obs = next(d.value for d in app.dataframe if "categories" in d.value.columns)
    obs = obs.set_index("column")
    assert obs.loc["cell_type", "categories"] == "7" and obs.loc["n_counts", "categories"] == "–"


@pytest.mark.parametrize("name,cells,genes,kind,label", [
    ("zeisel_cortex", "3,005", "200", "raw counts", "level1class"),
    ("pbmc68k_reduced", "700", "765", "log-normalised", "bulk_labels"),
    ("kang_pbmc", "1,975", "6,998", "log-normalised", "cell_type"),
])
def test_load_each_bundled_dataset(app, name, cells, genes, kind, label):
    if name == "kang_pbmc":  # load another one first so that loading kang changes something
        app.selectbox(key="bundled_name").select("zeisel_cortex").run()
        app.button(key="load_bundled").click().run()
        assert metrics(app)["Cells"] == "3,005"
    app.selectbox(key="bundled_name").select(name).run()
    app.button(key="load_bundled").click().run()
    assert_clean(app)
    assert not app.error
    m = metrics(app)
    assert (m["Cells"], m["Genes"], m["X holds"]) == (cells, genes, kind)
    assert app.header[0].value == f"`{name}`"
    assert app.selectbox(key="label_key").value == label
    assert [t.value for t in app.toast] == [f"Loaded {name}"]
    ds = app.session_state["dataset"]
    assert ds.name == name and ds.label_key == label
    if name == "zeisel_cortex":
        assert "counts" in ds.adata.layers  # raw counts kept for the count likelihoods
        assert any("Raw counts are kept in `layers['counts']`." in c.value for c in app.caption)


def test_upload_small_csv(app):
    upload(app, "tiny.csv", TINY_CSV, "text/csv")
    assert_clean(app)
    assert not app.error
    assert metrics(app) == {"Cells": "4", "Genes": "4", "X holds": "raw counts",
                            "Genes after preprocessing": "4"}
    assert app.header[0].value == "`tiny.csv`"
    ds = app.session_state["dataset"]
    assert list(ds.raw.var_names) == ["CD3E", "MS4A1", "LYZ", "NKG7"]
    assert ds.label_key is None  # no annotations: the page says scores need labels
    assert any("ARI/NMI will not be shown" in w.value for w in app.warning)


def test_upload_gzipped_tsv_with_genes_as_rows(app):
    table = b"gene\tc1\tc2\tc3\nCD3E\t1\t0\t2\nMS4A1\t0\t5\t1\n"
    app.radio(key="data_source").set_value("Upload a file").run()
    app.checkbox(key="upload_transpose").check().run()
    upload(app, "genes_by_cells.tsv.gz", gzip.compress(table))
    assert_clean(app)
    assert (metrics(app)["Cells"], metrics(app)["Genes"]) == ("3", "2")


@pytest.mark.filterwarnings("ignore:Variable names are not unique", "ignore:invalid value")
def test_upload_with_duplicated_genes_shows_notice(app):
    upload(app, "dups.csv", b"cell,ACTB,ACTB,CD3E\nc1,1,2,3\nc2,4,5,6\n", "text/csv")
    assert_clean(app)
    assert any(i.value.startswith("1 duplicated gene names (e.g. 'ACTB') were made unique")
               for i in app.info)


@pytest.mark.parametrize("name,data,message", [
    ("broken.h5ad", b"\x89HDF\r\n\x1a\n" + b"\0" * 64,
     "Could not read 'broken.h5ad' as .h5ad: the file is truncated, corrupt or not an AnnData "
     "file"),
    # the uploader accepts .gz (for .csv.gz/.tsv.gz), so a bare matrix.mtx.gz gets this far
    ("matrix.mtx.gz", b"\x1f\x8b\x08\x00", "'matrix.mtx.gz' has an unsupported file type. "
     "Upload .h5ad, 10x .h5, .zip of a 10x matrix.mtx(.gz)"),
    ("words.csv", b"cell,CD3E\nc1,high\n", "'words.csv' has a non-numeric value 'high'"),
    ("holes.csv", b"cell,CD3E,LYZ\nc1,1,\nc2,2,3\n", "The matrix holds 1 NaN and 0 infinite"),
    ("zeros.csv", b"cell,CD3E,LYZ\nc1,0,0\nc2,0,0\n", "Every value of the 2 × 2 matrix is zero."),
    ("tiny.csv", b"cell,CD3E\nc1,3\n", "The matrix has 1 cell(s) × 1 gene(s)"),
])
def test_bad_upload_keeps_loaded_dataset(app, name, data, message):
    before = app.session_state["dataset"]
    upload(app, name, data)
    assert_clean(app)  # a message, never a traceback
    assert len(app.error) == 1
    assert app.error[0].value.startswith(message), app.error[0].value
    assert app.session_state["dataset"] is before
    assert app.header[0].value == "`kang_pbmc`"
    assert metrics(app)["Cells"] == "1,975"


def test_upload_over_the_limit(app, monkeypatch):
    import core.data.io

    monkeypatch.setattr(core.data.io, "MAX_UPLOAD_MB", 1)
    big = b"cell,A\n" + b"".join(b"c%d,1\n" % i for i in range(120_000))
    assert len(big) > 1024 * 1024
    upload(app, "big.csv", big, "text/csv")
    assert_clean(app)
    assert app.error[0].value.startswith("The file is 1 MB, over the 1 MB upload limit.")
    assert app.header[0].value == "`kang_pbmc`"


def test_apply_preprocessing_options(app):
    app.number_input(key="pp_n_top").set_value(500)
    app.selectbox(key="pp_flavor").select("cell_ranger")
    app.checkbox(key="pp_subset").check()
    app.number_input(key="pp_clip").set_value(3.0)
    app.button(key=APPLY).click().run()
    assert_clean(app)
    assert not app.error
    assert [s.value for s in app.success] == ["Preprocessing applied."]
    assert metrics(app)["Genes after preprocessing"] == "500"
    ds = app.session_state["dataset"]
    assert ds.adata.shape == (1975, 500)
    applied = ds.adata.uns["preprocess"]
    assert (applied["hvg_flavor"], applied["subset_hvg"], applied["clip"]) == (
        "cell_ranger", True, 3.0)
    assert applied["log1p"] is False  # still not logged twice
    assert float(ds.adata.X.max()) <= 3.0
    assert any("Models read **1,975 cells × 500 genes** (500 flagged highly variable)" in md.value
               for md in app.markdown)
    assert ds.label_key == "cell_type"


def test_bad_preprocessing_keeps_previous_result(app):
    before = app.session_state["dataset"]
    app.number_input(key="pp_min_cells").set_value(100_000)
    app.button(key=APPLY).click().run()
    assert_clean(app)
    assert app.error[0].value.startswith("0 gene(s) detected in at least 100000 cells; a model")
    assert app.session_state["dataset"] is before
    assert metrics(app)["Genes after preprocessing"] == "6,547"


def test_label_column_choice_is_kept(app):
    app.selectbox(key="label_key").select("condition").run()
    assert app.session_state["dataset"].label_key == "condition"
    assert "Cells per `condition`" in [e.label for e in app.expander]
    # AppTest drops the sidebar of st.navigation apps after the first run; the e2e test checks it.
