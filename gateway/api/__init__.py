"""HTTP: routes, thin handlers, rendering, and the middlewares that map errors."""
