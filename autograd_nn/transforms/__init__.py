"""Function transforms on the core, each a layer or a function of functions: `grad` and
`value_and_grad` (grad.py), `vjp`/`jvp`/Jacobians/`hessian` (derivatives.py), forward mode
(forward.py), `vmap` (batching.py, levels.py), `custom_vjp` and `checkpoint` (custom.py) and
anomaly checks (anomaly.py)."""
