"""What a run costs and what the machine has: FLOPs, memory and time."""
