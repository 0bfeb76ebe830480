"""dnncourse: the reference implementations behind the course "Training deep neural networks".

Each concept lives in its own module (``dnncourse.optim``, ``dnncourse.init``, ``dnncourse.norm``, ...);
import the one you need. The package root holds only what every chapter calls first.
"""

from dnncourse.core import device, seed_everything
from dnncourse.style import COLORS, use_style

__version__ = "0.1.0"

__all__ = ["__version__", "COLORS", "device", "seed_everything", "use_style"]
