"""Pose as a latent variable (lecture slides "Example of latent variable: pose"
and "EBM Architecture for invariant object recognition").

Each object model is a reference representation, here a 2-D pattern of points
R_Y, transformed by the pose parameters Z = (angle, shift_x, shift_y),
q = rot(angle) r + shift, and drawn as an image of Gaussian blobs. With a
feature extractor G1 in front of X, ``Matcher(G1, PosedModels(...))`` is the
slide's architecture, E(W, Y, Z, X) = 1/2 ||G1(X) - image(Y, Z)||^2, and
``LatentEnergy`` over a grid of poses infers the category and the pose that
minimise it.
"""
from .backend import to_device, xp
from .modules import Module, Parameters, ShapeError, _shape

__all__ = ["PosedModels"]


class PosedModels(Module):
    """Object models transformed by a pose: each input row (Y, angle, shift_x,
    shift_y) gives the image (size * size pixels, row-major, rows along y) of
    sum_k exp(-||p - q_k||^2 / (2 width^2)) over the points q_k = rot(angle)
    r_k + shift of model Y; pixel p = (column, row) - (size - 1) / 2.

    The models' points ``r`` (n_models, n_points, 2) are the parameters W;
    bprop gives dE/dW and dE/d(angle, shift) (zero for the category Y).
    """

    def __init__(self, models, size, width, params=None):
        models = to_device(models, dtype=xp.float64)
        if models.ndim != 3 or models.shape[2] != 2 or 0 in models.shape:
            raise ShapeError(f"PosedModels: models must have shape (n_models, n_points, 2), "
                             f"got {tuple(models.shape)}")
        self.size, self.width = int(size), float(width)
        self.params = Parameters() if params is None else params
        self.points = self.params.new(models)
        self.grid = xp.arange(self.size) - (self.size - 1) / 2.0

    def place(self, rows):
        """The transformed points q of each row (Y, angle, shift_x, shift_y):
        (batch, n_points, 2)."""
        rows = to_device(rows, dtype=xp.float64)
        y = xp.rint(rows[:, 0]).astype(xp.int64)
        c, s = xp.cos(rows[:, 1])[:, None], xp.sin(rows[:, 1])[:, None]
        r = self.points.x[y]
        return xp.stack([c * r[..., 0] - s * r[..., 1] + rows[:, 2:3],
                         s * r[..., 0] + c * r[..., 1] + rows[:, 3:4]], axis=-1)

    def fprop(self, inp, out):
        self._expect("fprop", "input x", _shape(inp), (None, 4))
        q = self.place(inp.x)
        d = self.grid - q[..., None]                     # (batch, n, 2, size)
        g = xp.exp(-0.5 * (d / self.width) ** 2)
        self._q, self._d, self._g = q, d, g
        image = xp.einsum("bki,bkj->bij", g[:, :, 1], g[:, :, 0])
        out.x = image.reshape(len(q), self.size * self.size)

    def bprop(self, inp, out):
        self._expect_grad(out)
        self._expect("bprop", "input x", _shape(inp), (out.x.shape[0], 4))
        rows, q, g = to_device(inp.x, dtype=xp.float64), self._q, self._g
        h = g * self._d / self.width ** 2                # d g / d q
        dout = out.dx.reshape(len(q), self.size, self.size)
        dq = xp.stack([xp.einsum("bij,bki,bkj->bk", dout, g[:, :, 1], h[:, :, 0]),
                       xp.einsum("bij,bki,bkj->bk", dout, h[:, :, 1], g[:, :, 0])], axis=-1)
        if inp.requires_dx:
            shift = rows[:, None, 2:]
            turn = (dq[..., 1] * (q[..., 0] - shift[..., 0])
                    - dq[..., 0] * (q[..., 1] - shift[..., 1])).sum(axis=1)
            inp.dx = xp.stack([xp.zeros(len(q)), turn, *dq.sum(axis=1).T], axis=1)
        c, s = xp.cos(rows[:, 1])[:, None], xp.sin(rows[:, 1])[:, None]
        dr = xp.stack([c * dq[..., 0] + s * dq[..., 1],
                       -s * dq[..., 0] + c * dq[..., 1]], axis=-1)   # rot(angle)' dq
        y = xp.rint(rows[:, 0]).astype(xp.int64)
        onehot = (y[:, None] == xp.arange(self.points.x.shape[0])).astype(dr.dtype)
        self.points.dx += xp.einsum("bm,bkd->mkd", onehot, dr)

    def __repr__(self):
        n_models, n_points, _ = self.points.x.shape
        return f"PosedModels({n_models} models x {n_points} points -> {self.size}x{self.size})"
