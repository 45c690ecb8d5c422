"""infogan: InfoGAN (Chen et al., NIPS 2016) in PyTorch. Public API re-exports only."""

__version__ = "0.1.0"

from .config import Config, ConfigError, load_toml, preset
from .latent import Categorical, Gaussian, Latents, LatentSpec, SpecError, Uniform
from .losses import d_loss, g_loss, mi_loss

__all__ = [
    "Categorical", "Config", "ConfigError", "Gaussian", "LatentSpec", "Latents", "SpecError", "Uniform",
    "d_loss", "g_loss", "load_toml", "mi_loss", "preset",
]
