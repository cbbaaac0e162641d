import pytest
import torch
import torch_fidelity
from torch_fidelity.feature_extractor_base import FeatureExtractorBase

from repro.evaluation.fidelity import MissingWeights, fidelity_metrics, inception_weights, to_uint8_rgb

K = 5


class TinyExtractor(FeatureExtractorBase):
    """Logits: one-hot (×50) on the bin of the image's mean level among K bins; '2048': 16 pixels."""

    def __init__(self, name, features_list, **kwargs):
        super().__init__(name, features_list)

    @staticmethod
    def get_provided_features_list():
        return ("logits_unbiased", "2048")

    @staticmethod
    def get_default_feature_layer_for_metric(metric):
        return {"isc": "logits_unbiased", "fid": "2048"}[metric]

    @staticmethod
    def can_be_compiled():
        return False

    @staticmethod
    def get_dummy_input_for_compile():
        return torch.zeros(1, 3, 8, 8, dtype=torch.uint8)

    def forward(self, x):
        level = x.float().mean((1, 2, 3))  # (N,)
        cls = (level / 256 * K).long().clamp(max=K - 1)
        logits = torch.nn.functional.one_hot(cls, K).double() * 50  # near one-hot probabilities
        feats = x.double().flatten(1)[:, :16]
        out = {"logits_unbiased": logits, "2048": feats}
        return tuple(out[f] for f in self.features_list)


torch_fidelity.register_feature_extractor("tiny-test", TinyExtractor)


def images_in_classes(classes):
    levels = (torch.tensor(classes).float() + 0.5) * 256 / K
    return levels.round().clamp(1, 255).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).contiguous()


def test_inception_score_counts_classes():
    even = images_in_classes([i % K for i in range(100)])
    out = fidelity_metrics(even, feature_extractor="tiny-test", isc_splits=1, cuda=False)
    assert abs(out["inception_score_mean"] - K) < 1e-6
    one = images_in_classes([2] * 100)  # all mass on one class: the score of a uniform p(y) is 1
    out = fidelity_metrics(one, feature_extractor="tiny-test", isc_splits=1, cuda=False)
    assert abs(out["inception_score_mean"] - 1) < 1e-6


def test_fid_of_a_set_against_itself_is_zero():
    x = (torch.rand(64, 3, 8, 8, generator=torch.Generator().manual_seed(0)) * 255).to(torch.uint8)
    out = fidelity_metrics(x, x, isc=False, fid=True, feature_extractor="tiny-test", cuda=False)
    assert abs(out["frechet_inception_distance"]) < 1e-6
    y = (x.float() * 0.5).to(torch.uint8)
    assert fidelity_metrics(y, x, isc=False, fid=True, feature_extractor="tiny-test",
                            cuda=False)["frechet_inception_distance"] > 1


def test_missing_weights_message(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    with pytest.raises(MissingWeights, match="weights-inception-2015-12-05-6726825d.pth"):
        inception_weights(str(tmp_path / "nope.pth"))
    path = tmp_path / "hub" / "checkpoints" / "weights-inception-2015-12-05-6726825d.pth"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"x")
    assert inception_weights() == str(path)


def test_to_uint8_rgb():
    x = torch.tensor([0.0, 127.5, 255.0]).view(3, 1, 1, 1)
    y = to_uint8_rgb(x, 255.0)
    assert y.shape == (3, 3, 1, 1) and y.dtype == torch.uint8 and y[:, 0].flatten().tolist() == [0, 128, 255]
    with pytest.raises(ValueError):
        to_uint8_rgb(torch.zeros(2, 2, 4, 4), 255.0)


class UniformExtractor(TinyExtractor):
    """Every image gets the same (all-zero) logits: uniform class probabilities."""

    def forward(self, x):
        out = {"logits_unbiased": torch.zeros(len(x), K, dtype=torch.float64), "2048": x.double().flatten(1)[:, :16]}
        return tuple(out[f] for f in self.features_list)


torch_fidelity.register_feature_extractor("tiny-uniform", UniformExtractor)


def test_inception_score_of_uniform_probabilities_is_one():
    x = (torch.rand(50, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 255).to(torch.uint8)
    out = fidelity_metrics(x, feature_extractor="tiny-uniform", isc_splits=5, cuda=False)
    assert abs(out["inception_score_mean"] - 1) < 1e-9
