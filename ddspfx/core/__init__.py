"""What the engine drives and every layer may use: the Task contract, batch moving, fixed seeded
splits, checkpoint files, devices, metric declarations and TensorBoard media."""
