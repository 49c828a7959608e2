"""Pose as a latent variable: PosedModels against its formula, its gradients by finite
differences, and inference over category and pose with LatentEnergy."""
import numpy as np
import pytest

from ebmlib.backend import asnumpy, to_device
from ebmlib.energies import LatentEnergy, Matcher
from ebmlib.gradcheck import check_energy, check_module
from ebmlib.modules import Linear, Parameters, ShapeError, State
from ebmlib.pose import PosedModels

RNG = np.random.default_rng(11)


def _image(models, rows):
    out = State()
    models.fprop(State(to_device(np.asarray(rows, float)), requires_dx=False), out)
    return asnumpy(out.x)


def test_image_is_a_sum_of_blobs_on_the_turned_and_shifted_points():
    points = RNG.uniform(-2, 2, (2, 5, 2))
    models = PosedModels(points, 7, 0.9)
    angle, shift = 0.7, np.array([0.4, -1.1])
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    q = points[1] @ rot.T + shift
    grid = np.arange(7) - 3.0
    py, px = np.meshgrid(grid, grid, indexing="ij")      # rows along y
    want = sum(np.exp(-((px - x) ** 2 + (py - y) ** 2) / (2 * 0.9 ** 2)) for x, y in q)
    got = _image(models, [(1, angle, *shift)])
    np.testing.assert_allclose(got.reshape(7, 7), want, atol=1e-12)
    np.testing.assert_allclose(asnumpy(models.place(np.array([(1, angle, *shift)])))[0], q,
                               atol=1e-12)


def test_a_quarter_turn_maps_x_to_y():
    models = PosedModels(np.array([[[1.0, 0.0]]]), 5, 1.0)
    q = asnumpy(models.place(np.array([(0, np.pi / 2, 0.5, 0.0)])))
    np.testing.assert_allclose(q, [[[0.5, 1.0]]], atol=1e-12)


def test_gradients_by_finite_differences():
    models = PosedModels(RNG.uniform(-2, 2, (3, 4, 2)), 6, 0.9)
    rows = np.column_stack([[0, 2, 1], RNG.uniform(-3, 3, 3), RNG.uniform(-1, 1, (3, 2))])
    for result in check_module(models, rows):     # d/d(Y, angle, shift), d/d(points)
        assert result.ok, str(result)


def test_matcher_with_posed_models_and_latent_pose_gradients():
    params = Parameters(seed=2)
    machine = Matcher(Linear(36, 36, params),
                      PosedModels(RNG.uniform(-2, 2, (2, 4, 2)), 6, 0.9, params))
    poses = np.array([(a, s, 0.0) for a in (0.0, 1.5, 3.0) for s in (-1.0, 1.0)])
    result = check_energy(LatentEnergy(machine, poses), RNG.standard_normal((2, 36)),
                          np.arange(2)[:, None])
    assert result.ok, str(result)


def _letters():
    # an L and a T as point patterns, centred
    L = np.array([(-1, 3), (-1, 1), (-1, -1), (-1, -3), (1, -3), (3, -3)], float)
    T = np.array([(-3, 3), (-1, 3), (1, 3), (3, 3), (1, 1), (1, -1)], float)
    return np.stack([L - L.mean(0), T - T.mean(0)])


def test_inference_finds_category_and_pose_where_a_fixed_pose_fails():
    size = 13
    params = Parameters()
    models = PosedModels(_letters(), size, 0.8, params)
    features = Linear(size * size, size * size, params)
    features.w.x[:] = np.eye(size * size)
    poses = np.array([(a, sx, sy) for a in np.deg2rad(np.arange(0, 360, 45))
                      for sx in (-1.0, 0.0, 1.0) for sy in (-1.0, 0.0, 1.0)])
    truth = np.array([(0, *poses[40]), (1, *poses[13]), (0, *poses[0])])
    X = _image(models, truth) + 0.1 * RNG.standard_normal((3, size * size))
    latent = LatentEnergy(Matcher(features, models), poses)
    categories = np.arange(2)[:, None]
    y = asnumpy(latent.infer(X, categories))[:, 0]
    np.testing.assert_array_equal(y, truth[:, 0])
    np.testing.assert_array_equal(asnumpy(latent.z_index)[np.arange(3), y.astype(int)],
                                  [40, 13, 0])
    fixed = LatentEnergy(Matcher(features, models), np.zeros((1, 3)))
    assert not np.array_equal(asnumpy(fixed.infer(X, categories))[:, 0], truth[:, 0])


@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3), (0, 4, 2)])
def test_models_must_be_point_patterns(shape):
    with pytest.raises(ShapeError, match="n_models, n_points, 2"):
        PosedModels(np.zeros(shape), 5, 1.0)
