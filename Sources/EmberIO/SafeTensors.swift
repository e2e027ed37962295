// Safetensors: see SafeTensors.swift.
