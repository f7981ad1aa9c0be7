"""Files shipped with Clickmask: sample images, icons. Locate them with ``RESOURCES_DIR``."""
from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent
SAMPLES_DIR = RESOURCES_DIR / "samples"
