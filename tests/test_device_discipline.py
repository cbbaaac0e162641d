"""Device discipline, checked without a GPU: every tensor on the device of its model, no host sync inside
the sampler.

CI has no GPU, so the suite runs here on PyTorch's ``meta`` device, which stands in for CUDA:
- a meta tensor meeting a CPU tensor (other than a 0-dim scalar, which CUDA also accepts) raises "Tensor on
  device cpu is not on the expected device meta", as a CUDA tensor meeting a CPU one raises on a GPU;
- ``OnMeta`` below intercepts what would synchronise with a GPU: reading a value to the host (``.item()``,
  ``bool()``, ``.tolist()``: aten._local_scalar_dense) and copying a device tensor to the CPU
  (aten._to_copy / copy_ out of meta). It counts them and answers with a stand-in value (True, or zeros:
  the suite phrases its checks as "all is well" reads, such as all finite, all observed pixels unchanged),
  so the code runs on, and the test can hold the counts to a bound that does not grow with the steps;
- a random draw on meta with a CPU generator other than ``repro.core.trainable.device_generator``'s stand-in
  fails here as it fails on a GPU ("Expected a 'cuda' device type for generator").
Meta computes shapes only, so nothing numeric is checked here: tests elsewhere check the numbers on the
CPU, and tools/gpu_check.sh on a real GPU. After each training iteration and verb, ``misplaced`` lists every tensor
of the model's state off the device: reintroducing the generative ConvNet's CPU chains (issue 29:
``self.chains = y.detach().cpu()`` in repro.families.gconvnet) fails ``test_every_family_runs_on_the_device`` with
"after training iteration 0: GenerativeConvNet.chains (4, 3, 48, 48) is on cpu, the model on meta".
"""
import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from repro.base.config import get_config
from repro.core.langevin import langevin
from repro.core.models import build_energy_net
from repro.core.trainable import _META_STANDINS, device_generator
from repro.datasets.masks import square_mask
from repro.families.registry import initial_learner

META = torch.device("meta")
aten = torch.ops.aten


def _on_meta(x) -> bool:
    return isinstance(x, torch.Tensor) and x.device.type == "meta"


def _is_standin(gen: torch.Generator) -> bool:
    """Whether gen is one of device_generator's meta stand-ins (a dispatch sees a new Python wrapper of the
    generator, so it is recognised by its state)."""
    state = gen.get_state()
    return any(torch.equal(state, s.get_state()) for s in _META_STANDINS)


class OnMeta(TorchDispatchMode):
    """Counts host syncs (values read) and device-to-host copies of meta tensors; checks generators."""

    def __init__(self):
        super().__init__()
        self.syncs, self.copies = 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        flat = [*args, *kwargs.values()]
        gen = kwargs.get("generator")
        if gen is not None and gen.device.type == "cpu" and not _is_standin(gen) and (
                any(_on_meta(a) for a in flat) or str(kwargs.get("device")) == "meta"):
            raise RuntimeError(f"{func}: a CPU generator draws on the device (a GPU refuses it)")
        if func is aten._local_scalar_dense.default and _on_meta(args[0]):
            self.syncs += 1
            return True if args[0].dtype == torch.bool else 0
        if func is aten._to_copy.default and _on_meta(args[0]) and str(kwargs.get("device", "meta")) == "cpu":
            self.copies += 1
            dtype = kwargs.get("dtype") or args[0].dtype
            return torch.ones(args[0].shape, dtype=dtype) if dtype == torch.bool else torch.zeros(args[0].shape,
                                                                                                   dtype=dtype)
        if func is aten.copy_.default and not _on_meta(args[0]) and _on_meta(args[1]):
            self.copies += 1
            return args[0]
        return func(*args, **kwargs)


def misplaced(learner: torch.nn.Module, device: torch.device = META) -> list[str]:
    """Each tensor of the model's state that is not on `device`, named, with its shape and device: parameters,
    buffers, tensors a module holds as plain attributes, and the optimisers' state (0-dim tensors, such as Adam's
    step count, excepted: CUDA takes them from the CPU too). State a family keeps on the CPU by design is held
    outside the modules (repro.core.learner.PersistentChains) and is not counted."""
    out = []

    def check(name, t):
        if isinstance(t, torch.Tensor) and t.dim() > 0 and t.device != device:
            out.append(f"{type(learner).__name__}.{name} {tuple(t.shape)} is on {t.device}, the model on {device}")
    for name, t in [*learner.named_parameters(), *learner.named_buffers()]:
        check(name, t)
    for mod_name, mod in learner.named_modules():
        for attr, t in vars(mod).items():
            check(f"{mod_name + '.' if mod_name else ''}{attr}", t)
    for i, opt in enumerate(getattr(learner, "opts", [])):
        for k, (p, state) in enumerate(opt.state.items()):
            for key, t in state.items():
                check(f"opts[{i}].state[{k}][{key!r}]", t)
    return out


def on_device_step(learner, what: str, fn):
    """fn() (a training step or a verb of learner), then the census above: a tensor left on the CPU is named in the
    failure (which tensor, which device), also when the step itself fails on it (a device mix, or a stand-in
    value read from a CPU copy that makes the chains look diverged)."""
    try:
        out = fn()
    except Exception as err:
        wrong = misplaced(learner)
        if not wrong:
            raise
        raise AssertionError(f"{what} raised {type(err).__name__} ({str(err)[:200]}) with tensors off the model's "
                             f"device: " + "; ".join(wrong)) from err
    wrong = misplaced(learner)
    assert not wrong, f"after {what}: " + "; ".join(wrong)
    return out


def small(method: str, **kw):
    base = dict(method=method, batch_size=4, steps_per_grid=2, n_iters=2, z_dim=8, ce_bottleneck=8,
                coop_steps=2)
    if method == "gconvnet":
        base.update(image_size=48, width=0.1, gcn_iters_per_layer=1, gcn_chains=4)
    return get_config("smoke", **{**base, **kw})


def on_meta(method: str, **kw):
    cfg = small(method, **kw)
    learner = initial_learner(cfg, 3, 8, device="cpu").to_device(META, torch.float32)
    return cfg, learner


FAMILIES = ["multigrid", "singlegrid", "cd1", "pcd", "dcgan", "context_encoder", "coopnets", "gconvnet"]


@pytest.mark.parametrize("method", FAMILIES)
def test_every_family_runs_on_the_device(method):
    """Two training iterations and every verb the family has (sample, inpaint, features), with the model on
    the stand-in device and the data arriving from the CPU, as the runner and the tasks hand them over."""
    cfg, learner = on_meta(method)
    s = cfg.image_size
    x_cpu = torch.rand(4, 3, s, s) * cfg.pixel_max
    mask_cpu = square_mask(4, s, s // 2, torch.Generator().manual_seed(0))  # (B, 1, S, S), 1 = missing
    train_mask = mask_cpu.to(META) if method == "context_encoder" else None
    with OnMeta() as mode:
        for t in range(2):  # the second iteration reads what the first carried (chains, persistent state)
            samples, stats = on_device_step(learner, f"training iteration {t}",
                                            lambda: learner.train_step(x_cpu.to(META), torch.arange(4), train_mask))
            learner.iteration = t + 1
            assert all(y.device == META for y in samples) and stats.device == META
        gen = device_generator(META).manual_seed(0)
        from repro.datasets.data import ImageSet
        train_set = ImageSet((x_cpu / cfg.pixel_max * 255).to(torch.uint8), None, "fixture")
        for verb, call in [("sample", lambda: learner.sample(4, gen, train_set=train_set)),
                           ("inpaint", lambda: learner.inpaint(x_cpu.to(META), mask_cpu.to(META), gen, steps=2)),
                           ("features", lambda: learner.features(x_cpu.to(META)))]:
            try:
                out = on_device_step(learner, verb, call)
            except NotImplementedError:
                continue
            outs = out if isinstance(out, list) else [out]
            assert all(o.device.type in ("cpu", "meta") for o in outs), verb
    # at most a handful of host reads per iteration (the logged statistics, the end-of-chain finite check),
    # never one per Langevin step
    assert mode.syncs <= 16, mode.syncs


def test_the_tasks_evaluation_steps_run_on_the_device():
    """The tasks' own evaluation helpers hand the model's device what it needs (images, masks, generators)."""
    from repro.core.inpaint import complete_all
    from repro.families.gconvnet import reconstruction_error
    from tasks.inpainting import inpaint_all
    from tasks.score_diagnostics import grid_scores
    x = torch.rand(5, 3, 32, 32) * 255  # on the CPU, as the tasks load them
    mask = square_mask(5, 32, 16, torch.Generator().manual_seed(0))
    with OnMeta():
        for method in ("multigrid", "context_encoder"):
            _, learner = on_meta(method)
            out = inpaint_all(learner, x, mask, seed=0)
            assert out.shape == x.shape
        _, learner = on_meta("multigrid")
        assert grid_scores(learner, x).shape == (3, 5)
        _, coop = on_meta("coopnets")
        assert complete_all(coop, x, mask, steps=2, step_size=0.1, seed=0).shape == x.shape
        cfg, gcn = on_meta("gconvnet")
        xg = torch.rand(4, 3, 48, 48) * 255
        assert reconstruction_error(gcn, xg).shape == (4,)


def test_the_classification_heads_and_features_run_on_the_device():
    """SVHN protocol: the L2-SVM's features read in fixed batches from CPU images, and the CNN head
    (repro.families.semisup) over a learned model's frozen top maps and as the supervised baseline, trained and read
    on the device."""
    from repro.datasets.data import ImageSet
    from repro.evaluation.features import extract
    from repro.families.semisup import TopMapHead
    cfg, learner = on_meta("multigrid")
    images = ImageSet(torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8), torch.arange(6) % 3, "fixture")
    with OnMeta():
        feats = extract(learner.features, images, 4, pixel_max=cfg.pixel_max, device=META)
        assert feats.shape[0] == 6 and feats.device.type == "cpu"
        from repro.evaluation.features import PixelMaps
        for nets in (learner.nets, None, [PixelMaps(3, 32)]):  # frozen learned nets; supervised; raw pixels
            head = TopMapHead(cfg, 3, 6, labeled=images, nets=nets).to_device(META, torch.float32)
            _, stats = head.train_step(images.batch(torch.arange(4), device=META), torch.arange(4))
            assert stats.device == META
            assert head.logits(images.batch(torch.arange(4), device=META)).shape == (4, 10)


@pytest.mark.parametrize("method", ["multigrid", "singlegrid", "pcd"])
def test_no_host_sync_inside_the_sampler(method):
    """A training iteration reads the same number of values to the host whatever the number of Langevin
    steps: none inside the loop (on a GPU each one would stall the queue of kernels)."""
    counts = []
    for steps in (1, 4):
        _, learner = on_meta(method, steps_per_grid=steps)
        x = torch.rand(4, 3, 32, 32, device=META)
        with OnMeta() as mode:
            learner.train_step(x, torch.arange(4))
        counts.append((mode.syncs, mode.copies))
    assert counts[0] == counts[1], counts


def test_langevin_reads_the_host_once():
    net = build_energy_net(8, 3, width=0.25).to(META)
    y = torch.rand(4, 3, 8, 8, device=META)
    for steps in (1, 7):
        with OnMeta() as mode:
            out = langevin(net, y, steps=steps, step_size=0.3, sigma=50.0,
                           generator=device_generator(META).manual_seed(0), clip=(0.0, 255.0))
        assert out.device == META
        assert mode.syncs + mode.copies == 1, (steps, mode.syncs, mode.copies)  # the finite check: one .tolist()


def test_the_stand_in_catches_a_tensor_left_on_the_cpu_and_a_cpu_generator():
    """The mechanism itself: what it must refuse, it refuses."""
    net = build_energy_net(8, 3, width=0.25).to(META)
    with OnMeta(), pytest.raises(RuntimeError, match="device"):
        net(torch.rand(4, 3, 8, 8))  # images left on the CPU
    with OnMeta(), pytest.raises(RuntimeError, match="generator"):
        torch.randn(4, device=META, generator=torch.Generator())  # a plain CPU generator
    _, learner = on_meta("pcd")
    assert misplaced(learner) == []  # the persistent chains live on the CPU by design, outside the modules
    net = learner.nets[0]  # a parameter, a buffer and a plain attribute, each on the CPU
    net.fc.bias = torch.nn.Parameter(torch.zeros(1))
    net.register_buffer("center", torch.zeros(3, 1, 1))
    net.stray = torch.zeros(2, 3)
    with pytest.raises(AssertionError, match=r"nets\.0\.fc\.bias \(1,\) is on cpu, the model on meta; .*"
                                             r"nets\.0\.center \(3, 1, 1\) is on cpu.*nets\.0\.stray \(2, 3\)"):
        on_device_step(learner, "a step", lambda: None)
