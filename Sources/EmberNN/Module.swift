// Modules: see Module.swift.
