"""The Docker Engine backend (docker-py). Imported only when the ``docker`` sandbox is used."""
