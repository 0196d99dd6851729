"""iqa-audit: does an image-quality metric notice iterative editing degradation?"""

__version__ = "0.1.0"
