"""HTTP edge: pydantic models, routes and error mapping only; the work happens in Services."""
