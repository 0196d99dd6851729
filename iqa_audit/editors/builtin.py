"""Import every built-in editor module so each registers its names."""

from . import codec, simulators  # noqa: F401  free, deterministic editors
from . import diffusers_editor, gemini  # noqa: F401  paid/heavy; their imports of SDKs are lazy
