"""Public tests of the backprop exercise (modules, fprop and bprop, pooled weights).

A derivative is checked as a whole Jacobian: the test seeds ``dout`` with each
unit vector in turn, stacks what your bprop returns (one row per output entry,
inputs flattened row by row) and compares it with finite differences of the
forward pass.
"""
from ebmlib.grading import Test, bprop_jacobian, close, jacobian


LINEAR_SEEDS = "(len(b), len(a))"      # dout of linear_bprop(W, x, dout): (batch, n_out)
TANH_SEEDS = "a.shape"                 # dout of tanh_bprop(x, b, dout): (batch, n)
EUCLID_SEEDS = "len(a)"                # de of euclidean_bprop(x, y, de): (batch,)


def linear_args(batch, n_in, n_out):
    return lambda rng: (rng.normal(size=(n_out, n_in)), rng.normal(size=(batch, n_in)))


def sgd_args(n, hidden, eta):
    def make(rng):
        x = rng.uniform(-1, 1, (n, 1))
        return rng.normal(size=3 * hidden + 1), x, x ** 2, eta
    return make


TESTS = [
    Test("linear_fprop", "a batch of 4 inputs, 3 -> 2", "linear_fprop", linear_args(4, 3, 2)),

    Test("linear_bprop", "(dx, dW) values for a batch of 3, 4 -> 2", "linear_bprop",
         lambda rng: (rng.normal(size=(2, 4)), rng.normal(size=(3, 4)), rng.normal(size=(3, 2)))),
    Test("linear_bprop", "Jacobian d(out)/dx rebuilt from your dx (batch of 3, 4 -> 2)",
         bprop_jacobian("linear_bprop", 0, LINEAR_SEEDS), linear_args(3, 4, 2),
         reference="jacobian_fd(linear_fprop, *args, wrt=1)", compare=jacobian()),
    Test("linear_bprop", "Jacobian d(out)/dW rebuilt from your dW (batch of 3, 4 -> 2)",
         bprop_jacobian("linear_bprop", 1, LINEAR_SEEDS), linear_args(3, 4, 2),
         reference="jacobian_fd(linear_fprop, *args, wrt=0)", compare=jacobian()),

    Test("tanh_fprop", "a batch of 4 rows of 3 units", "tanh_fprop",
         lambda rng: (rng.normal(size=(4, 3)), rng.normal(size=3))),

    Test("tanh_bprop", "Jacobian d(out)/dx rebuilt from your dx (batch of 3, 4 units)",
         bprop_jacobian("tanh_bprop", 0, TANH_SEEDS), lambda rng: (rng.normal(size=(3, 4)), rng.normal(size=4)),
         reference="jacobian_fd(tanh_fprop, *args, wrt=0)", compare=jacobian()),
    Test("tanh_bprop", "Jacobian d(out)/db rebuilt from your db (batch of 3, 4 units)",
         bprop_jacobian("tanh_bprop", 1, TANH_SEEDS), lambda rng: (rng.normal(size=(3, 4)), rng.normal(size=4)),
         reference="jacobian_fd(tanh_fprop, *args, wrt=1)", compare=jacobian()),

    Test("euclidean_fprop", "a batch of 4 pairs in dimension 3", "euclidean_fprop",
         lambda rng: (rng.normal(size=(4, 3)), rng.normal(size=(4, 3)))),

    Test("euclidean_bprop", "Jacobian dE/dx rebuilt from your dx (batch of 3, dimension 2)",
         bprop_jacobian("euclidean_bprop", 0, EUCLID_SEEDS),
         lambda rng: (rng.normal(size=(3, 2)), rng.normal(size=(3, 2))),
         reference="jacobian_fd(euclidean_fprop, *args, wrt=0)", compare=jacobian()),
    Test("euclidean_bprop", "Jacobian dE/dy rebuilt from your dy (batch of 3, dimension 2)",
         bprop_jacobian("euclidean_bprop", 1, EUCLID_SEEDS),
         lambda rng: (rng.normal(size=(3, 2)), rng.normal(size=(3, 2))),
         reference="jacobian_fd(euclidean_fprop, *args, wrt=1)", compare=jacobian()),

    Test("unpack", "values and shapes of (W1, B1, W2, B2) for sizes (2, 3, 1)", "unpack",
         lambda rng: (rng.normal(size=3 * 2 + 3 + 1 * 3 + 1), (2, 3, 1)), compare=close(0, 0)),
    Test("unpack", "views, not copies: filling every returned array with 7 fills w",
         "(lambda w, s: ([v.fill(7.0) for v in unpack(w, s)], w)[1])(*args)",
         lambda rng: (rng.normal(size=2 * 3 + 3 + 1 * 3 + 1), (2, 3, 1)), compare=close(0, 0)),

    Test("sgd_step", "one step on 5 samples of y = x^2, H = 3, eta = 0.1", "sgd_step",
         sgd_args(5, 3, 0.1)),
]
