"""iotnotice: find Mirai-infected IoT devices on a darknet and drive their clean-up."""

__version__ = "0.1.0"
__all__ = ["__version__"]
