// Optimizers: see Optimizer.swift.
