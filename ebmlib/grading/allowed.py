"""What a student may call: the ebmlib functions each exercise asks its students to write.

An exercise that asks for ``hinge_loss`` cannot accept ``return losses.hinge_loss(...)``.
:data:`FORBIDDEN` lists, per exercise, the library functions that answer one of its
questions (directly, or in one call of a function that computes the same thing, such
as ``inference.free_energy`` for the NLL loss), each with the questions during which
it refuses (``None``: all of them). Everything else in ebmlib stays usable, and the
notebook's intro says the same in one sentence (a test keeps the two in step).

While the grader harvests a question (``harvest.py``, in the grading kernel, and the
same code under ``check(...)`` in the student's kernel), :func:`disabled` swaps the
``__code__`` of each forbidden function for one that raises
:class:`LibraryFunctionDisabled`, and puts it back afterwards. The function object
itself refuses, so every way of reaching it refuses alike: ``from ebmlib.losses import
hinge_loss``, ``import ebmlib.losses as L``, ``importlib``, a reference kept in a
dict, a default argument or a closure, or another library function that calls it.
The notebook's cells run before, with the library whole (its "compare with ebmlib"
cells keep working). Reloading the module or copying its source are deliberate
circumvention, as copying the library's code by hand would be: not blocked.
"""
import contextlib
import importlib
import types

# exercise -> {dotted name: questions during which it refuses, or None for all}
FORBIDDEN = {
    "losses": {
        "ebmlib.inference.most_offending": ("most_offending",),
        **{f"ebmlib.losses.{name}": None for name in (
            "energy_loss", "perceptron_loss", "hinge_loss", "square_square_loss",
            "square_exp_loss", "nll_loss")},
        # the NLL loss is E_C - F_beta with gradient onehot - P(Y|X)
        **{name: ("nll_loss",) for name in (
            "ebmlib.losses._nll", "ebmlib.inference.free_energy", "ebmlib.inference.gibbs")},
    },
    "inference": {
        "ebmlib.inference.argmin": None,
        "ebmlib.inference.gibbs": None,
        "ebmlib.inference.free_energy": None,
        "ebmlib.inference._boltzmann": None,
        # F_beta = E_C - nll_loss, P(Y|X) = onehot - its gradient
        "ebmlib.losses.nll_loss": None,
        "ebmlib.losses._nll": None,
    },
    "latent": {
        "ebmlib.inference.min_sum_chain": None,
        # the energy of a template at every shift, the book's location machine
        "ebmlib.location.TemplateEnergy.fprop": ("template_energies", "locate"),
    },
    "linear": {
        # every library learning step goes through the linear module's bprop and sgd_step
        # (question train's tests pass the library's steps to your train: usable there)
        **{name: ("perceptron_step", "regression_step", "logistic_step")
           for name in ("ebmlib.modules.Linear.bprop", "ebmlib.train.sgd_step")},
        "ebmlib.train.train": ("train",),
    },
    "backprop": {
        **{f"ebmlib.modules.{cls}.{method}": None
           for cls in ("Linear", "_Squash", "_Distance", "Cascade")
           for method in ("fprop", "bprop")},
        "ebmlib.train.sgd_step": None,
        # the pooled parameters of an ebmlib net are the views unpack asks for
        "ebmlib.modules.Parameters.new": ("unpack",),
    },
    "collapse": {
        "ebmlib.inference.most_offending": ("most_offending_gap",),
    },
    "structured": {
        # the counts, the energy, (loss-augmented) min-sum inference and both updates;
        # inference.min_sum_chain stays usable: the questions build on it
        **{f"ebmlib.structured.ChainEnergy.{method}": None
           for method in ("features", "energy", "infer")},
        "ebmlib.structured.structured_loss": None,
    },
    "sampling": {
        "ebmlib.inference.langevin": None,
        "ebmlib.inference._descend": ("langevin",),   # langevin's loop, noise included
        **{name: ("gibbs_moments",) for name in ("ebmlib.inference.gibbs",
                                                 "ebmlib.inference._boltzmann")},
    },
}

# the graded questions (those with tests) of each exercise above; harvest recognises the
# exercise from them when the grader's plan does not name it
QUESTIONS = {
    "losses": ("most_offending", "energy_loss", "perceptron_loss", "hinge_loss",
               "square_square_loss", "square_exp_loss", "nll_loss"),
    "inference": ("map_inference", "gibbs", "free_energy", "gap_to_min"),
    "latent": ("template_energies", "locate", "min_sum_chain"),
    "linear": ("perceptron_step", "regression_step", "logistic_step", "train", "error_rate"),
    "backprop": ("linear_fprop", "linear_bprop", "tanh_fprop", "tanh_bprop", "euclidean_fprop",
                 "euclidean_bprop", "unpack", "sgd_step"),
    "collapse": ("energy_spread", "is_collapsed", "most_offending_gap"),
    "structured": ("chain_features", "predict", "perceptron_update", "hinge_update"),
    "sampling": ("langevin_step", "langevin", "gibbs_moments", "nll_gradient_estimate"),
}


REFUSAL_FILE = "<ebmlib disabled>"   # left out of the tracebacks shown to students


class LibraryFunctionDisabled(RuntimeError):
    """A library function that the exercise being graded asks the student to write."""


def exercise_of(questions, name=None):
    """The exercise of :data:`FORBIDDEN` being graded: ``name`` when given, else the only
    one whose questions include all of ``questions``; None when there is none."""
    if name is not None:
        return name if name in FORBIDDEN else None
    found = [e for e, qs in QUESTIONS.items() if set(questions) <= set(qs)]
    return found[0] if len(found) == 1 and questions else None


def forbidden(exercise, question):
    """The dotted names that refuse while ``question`` of ``exercise`` is graded."""
    return sorted(name for name, questions in FORBIDDEN.get(exercise, {}).items()
                  if questions is None or question in questions)


def resolve(dotted):
    """The plain function behind ``dotted`` (``ebmlib.modules.Linear.bprop``)."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = vars(obj)[part] if isinstance(obj, type) else getattr(obj, part)
        obj = getattr(obj, "__func__", obj)   # a staticmethod or classmethod
        if not isinstance(obj, types.FunctionType):
            raise TypeError(f"{dotted} is not a Python function")
        return obj
    raise ImportError(f"no module for {dotted}")


def message(dotted, question):
    short = dotted.split(".", 2)[-1]   # without "ebmlib.<module>."
    return (f"this exercise asks you to write {question} yourself; ebmlib's {short} "
            f"({dotted}) is disabled while grading")


def _refusal(function, text):
    """A code object that raises LibraryFunctionDisabled(text), with the free variables of
    ``function`` (a function's ``__code__`` may only be replaced by one that has them)."""
    free = function.__code__.co_freevars
    source = (f"def _outer({', '.join(free)}):\n"
              f"    def {function.__name__}(*args, **kwargs):\n"
              f"        ({', '.join(free)}{',' if free else ''})\n"
              f"        raise __import__('ebmlib.grading.allowed', fromlist=['_'])"
              f".LibraryFunctionDisabled({text!r})\n"
              f"    return {function.__name__}\n")
    scope = {}
    exec(compile(source, REFUSAL_FILE, "exec"), scope)
    code = scope["_outer"](*[None] * len(free)).__code__
    assert code.co_freevars == free
    return code


@contextlib.contextmanager
def disabled(exercise, question):
    """While inside, the functions :func:`forbidden` names for ``question`` refuse."""
    swapped = []
    try:
        for dotted in forbidden(exercise, question):
            try:
                function = resolve(dotted)
            except (ImportError, KeyError, AttributeError, TypeError):
                continue   # gone from the library: nothing to refuse
            original = function.__code__
            function.__code__ = _refusal(function, message(dotted, question))
            swapped.append((function, original))
        yield [f.__qualname__ for f, _ in swapped]
    finally:
        for function, original in reversed(swapped):
            function.__code__ = original
