"""The OpenClassrooms source: contract, client, hook and pure converters."""
