"""The bundled demo: the whole loop on a small project, through the API, in containers."""
