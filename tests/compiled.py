"""Shared test helper: call a pure-function module's functions compiled."""

import jax

from cpose_jax.skeleton import Skeleton


class Compiled:
    """``X.f(...)`` runs ``jax.jit(module.f)``, Skeleton arguments and keyword options static.

    On CPU one XLA compile per (function, shapes) is far cheaper than eager execution, which
    compiles every primitive separately; ``test_jit_equals_eager`` covers the eager path.
    """

    def __init__(self, module):
        self._module = module

    def __getattr__(self, name):
        fn = getattr(self._module, name)

        def call(*args, **kwargs):
            static = tuple(i for i, a in enumerate(args) if isinstance(a, Skeleton))
            return jax.jit(fn, static_argnums=static, static_argnames=tuple(kwargs))(
                *args, **kwargs
            )

        return call
