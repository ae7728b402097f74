import numpy as np
import torch
from wdecay.data.loader import DeviceImages, channel_stats
from wdecay.device import memory_format
from wdecay.models.vision import build_model


def make(n=10, size=4):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    y = np.arange(n)  # unique labels tag each image
    return x, y


def test_batches_are_normalised_nchw_in_the_layout_of_the_device():
    x, y = make()
    mean, std = channel_stats(x)
    data = DeviceImages(x, y, mean, std, torch.device("cpu"))
    batch, labels = next(data.sequential(10))
    assert batch.shape == (10, 3, 4, 4) and batch.dtype == torch.float32
    assert batch.is_contiguous(memory_format=torch.channels_last)  # forward passes
    training, _ = next(data.shuffled(10, torch.Generator().manual_seed(0)))
    assert training.is_contiguous() and memory_format(torch.device("cuda")) == torch.channels_last
    expected = (x.astype(np.float64) / 255 - mean) / std
    np.testing.assert_allclose(batch.permute(0, 2, 3, 1).numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(batch.mean((0, 2, 3)).numpy(), 0, atol=1e-5)
    assert torch.equal(labels, torch.as_tensor(y))


def test_sequential_keeps_the_last_partial_batch():
    x, y = make(10)
    data = DeviceImages(x, y, *channel_stats(x), torch.device("cpu"))
    assert [len(b) for _, b in data.sequential(4)] == [4, 4, 2]
    assert [len(b) for _, b in data.sequential(4, drop_last=True)] == [4, 4]


def test_shuffled_epoch_is_a_permutation_without_the_last_partial_batch():
    x, y = make(10)
    data = DeviceImages(x, y, *channel_stats(x), torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    seen = [lab for _, lab in data.shuffled(4, gen)]
    assert [len(s) for s in seen] == [4, 4] and data.steps_per_epoch(4) == 2
    assert len(set(torch.cat(seen).tolist())) == 8  # no image twice in an epoch
    # same generator state -> same order; next epoch -> a different one
    first = [lab.clone() for _, lab in data.shuffled(4, torch.Generator().manual_seed(0))]
    assert all(torch.equal(a, b) for a, b in zip(first, seen, strict=True))


def test_a_resumed_epoch_continues_the_same_order():
    x, y = make(n=23)
    data = DeviceImages(x, y, *channel_stats(x), torch.device("cpu"))
    gen = torch.Generator().manual_seed(3)
    state = gen.get_state()
    whole = [labels.tolist() for _, labels in data.shuffled(4, gen)]
    gen.set_state(state)
    rest = [labels.tolist() for _, labels in data.shuffled(4, gen, start=2)]
    assert len(whole) == 5 and rest == whole[2:]


def test_a_narrow_resnet_trains_on_large_images_on_cpu():
    """Regression: channels-last backward of a 1/16-width ResNet-18 on 64x64 images aborted the process (PyTorch
    2.14, CPU); training batches and the model now use the standard layout on CPU."""
    x, y = make(8, 64)
    data = DeviceImages(x, y % 3, *channel_stats(x), torch.device("cpu"))
    model = build_model("preact_resnet18", 3, 0.0625).to(memory_format=memory_format(torch.device("cpu")))
    batch, labels = next(data.shuffled(8, torch.Generator().manual_seed(0)))
    torch.nn.functional.cross_entropy(model(batch), labels).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
