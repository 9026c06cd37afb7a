"""DeepSet module (issue 17): permutation invariance, the interaction head, the contract."""

from __future__ import annotations

import pytest
import torch

from core.data.phenotypes import pad_sets
from core.models.base import ModelModule
from core.models.deepset import DeepSet
from core.models.registry import module_classes


def _padded(sets):
    genes, mask = pad_sets(sets)
    return torch.as_tensor(genes), torch.as_tensor(mask)


@pytest.mark.parametrize("pool", ["sum", "mean", "attention"])
@pytest.mark.parametrize("head", [True, False])
def test_shuffled_set_gives_the_same_output(pool, head):
    torch.manual_seed(0)
    module = DeepSet(10, n_features=3, n_learned=4, hidden=[8, 8], pool=pool,
                     interaction_head=head, wild_type_difference=True).eval()
    module.features.normal_()
    module.single_phenotype[:3] = torch.tensor([0.1, -0.2, 0.3])
    genes, mask = _padded([(1, 4, 7), (7, 1, 4), (4, 7, 1), (2, 5), (5, 2)])
    with torch.no_grad():
        out = module(genes, mask)["prediction"]
    assert torch.allclose(out[0], out[1], atol=1e-6) and torch.allclose(out[0], out[2], atol=1e-6)
    assert torch.allclose(out[3], out[4], atol=1e-6)
    assert not torch.allclose(out[0], out[3])       # different sets differ: the test can fail


def test_padding_does_not_change_a_set():
    torch.manual_seed(0)
    module = DeepSet(6, n_learned=4, hidden=[8], pool="attention").eval()
    short, mask_short = _padded([(2, 3)])
    long, mask_long = _padded([(2, 3), (0, 1, 4, 5)])
    with torch.no_grad():
        a = module(short, mask_short)["prediction"][0]
        b = module(long, mask_long)["prediction"][0]
    assert float(a) == pytest.approx(float(b), abs=1e-6)


def test_interaction_head_returns_measured_singles_and_adds_them():
    torch.manual_seed(0)
    module = DeepSet(4, n_learned=4, hidden=[8]).eval()
    module.single_phenotype[:2] = torch.tensor([-0.1, -0.2])
    genes, mask = _padded([(0,), (1,), (0, 1)])
    with torch.no_grad():
        out = module(genes, mask)
    assert out["prediction"][:2].tolist() == pytest.approx([-0.1, -0.2])
    assert float(out["additive"][2]) == pytest.approx(-0.3)
    assert float(out["prediction"][2]) == pytest.approx(-0.3 + float(out["interaction"][2]))


def test_keeps_the_model_contract_and_rebuilds_from_init_kwargs():
    module = DeepSet(5, n_features=2, n_learned=3, hidden=[8, 4], pool="mean")
    assert isinstance(module, ModelModule)
    assert module_classes()["deepset"] is DeepSet
    genes, mask = _padded([(0, 1), (2,)])
    terms = module.loss({"genes": genes, "mask": mask, "y": torch.tensor([1.0, -1.0])})
    assert set(terms) == {"loss", "mse"} and float(terms["loss"].detach()) > 0
    (z,) = module.encode(genes, mask)
    assert z.shape == (2, 4) and module.decode(z).shape == (2,)
    clone = DeepSet(**module.init_kwargs)
    clone.load_state_dict(module.state_dict())
    with torch.no_grad():
        assert torch.equal(clone.eval()(genes, mask)["prediction"],
                           module.eval()(genes, mask)["prediction"])
