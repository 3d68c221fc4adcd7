"""Tests of the compiled operators, one module per stem csrc/ops/<stem>.cpp (and fastspike/ops/<stem>.py):
the reference comparison, every device and CPU path or ISA, opcheck and the bad inputs of that
operator. Shared helpers are tests/helpers/ops.py."""
