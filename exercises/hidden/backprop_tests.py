"""Hidden tests of the backprop exercise."""
from ebmlib.grading import Test, bprop_jacobian, close, jacobian


def sgd_args(n, hidden, eta):
    def make(rng):
        x = rng.uniform(-1, 1, (n, 1))
        return rng.normal(size=3 * hidden + 1), x, x ** 2, eta
    return make


TESTS = [
    Test("linear_fprop", "a batch of one sample, 5 -> 1", "linear_fprop",
         lambda rng: (rng.normal(size=(1, 5)), rng.normal(size=(1, 5)))),

    Test("linear_bprop", "a batch of one: dW is the outer product dout' x", "linear_bprop",
         lambda rng: (rng.normal(size=(3, 2)), rng.normal(size=(1, 2)), rng.normal(size=(1, 3)))),
    Test("linear_bprop", "dW is summed over a batch of 6 (Jacobian d(out)/dW, 2 -> 3)",
         bprop_jacobian("linear_bprop", 1, "(len(b), len(a))"),
         lambda rng: (rng.normal(size=(3, 2)), rng.normal(size=(6, 2))),
         reference="jacobian_fd(linear_fprop, *args, wrt=0)", compare=jacobian()),

    Test("tanh_fprop", "a batch of one with large inputs (|x + b| up to 40)", "tanh_fprop",
         lambda rng: (rng.uniform(-20, 20, (1, 6)), rng.uniform(-20, 20, 6))),

    Test("tanh_bprop", "(dx, db) values for a batch of 5 (db summed over the batch)", "tanh_bprop",
         lambda rng: (rng.normal(size=(5, 2)), rng.normal(size=2), rng.normal(size=(5, 2)))),
    Test("tanh_bprop", "saturated units (|x + b| > 3): Jacobian d(out)/dx",
         bprop_jacobian("tanh_bprop", 0, "a.shape"),
         lambda rng: (rng.choice([-1, 1], (2, 3)) * rng.uniform(4, 6, (2, 3)), rng.normal(size=3) * 0.5),
         reference="jacobian_fd(tanh_fprop, *args, wrt=0)", compare=jacobian()),

    Test("euclidean_fprop", "a batch of one pair in dimension 1", "euclidean_fprop",
         lambda rng: (rng.normal(size=(1, 1)), rng.normal(size=(1, 1)))),

    Test("euclidean_bprop", "(dx, dy) values with a different dL/dE for each of 4 samples",
         "euclidean_bprop",
         lambda rng: (rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.normal(size=4))),
    Test("euclidean_bprop", "a batch of one (Jacobian dE/dx)", bprop_jacobian("euclidean_bprop", 0, "len(a)"),
         lambda rng: (rng.normal(size=(1, 4)), rng.normal(size=(1, 4))),
         reference="jacobian_fd(euclidean_fprop, *args, wrt=0)", compare=jacobian()),

    Test("unpack", "three layers, sizes (1, 4, 2, 3)", "unpack",
         lambda rng: (rng.normal(size=4 + 4 + 8 + 2 + 6 + 3), (1, 4, 2, 3)), compare=close(0, 0)),
    Test("unpack", "views for sizes (1, 1, 1): writing into them writes into w",
         "(lambda w, s: ([v.fill(-3.0) for v in unpack(w, s)], w)[1])(*args)",
         lambda rng: (rng.normal(size=4), (1, 1, 1)), compare=close(0, 0)),

    Test("sgd_step", "a single sample, H = 1", "sgd_step", sgd_args(1, 1, 0.3)),
    Test("sgd_step", "the gradient is the mean over 20 samples, not the sum (H = 5)",
         "sgd_step", sgd_args(20, 5, 0.5)),
]
