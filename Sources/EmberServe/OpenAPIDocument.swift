/// The server's API as an OpenAPI 3.0 document, served at `/openapi.json` (for clients and
/// for schemathesis, which checks the server against it: scripts/serve-schemathesis.sh).
enum OpenAPIDocument {
    static let document: JSONValue = {
        // Parsed once; a malformed document is a programming error caught by the tests.
        try! JSONValue.parseObject(Array(text.utf8)).json
    }()

    static let text = #"""
    {
      "openapi": "3.0.3",
      "info": {"title": "ember serve", "version": "1",
               "description": "TensorFlow Serving's REST API (/v1) and the Open Inference Protocol (/v2) over an Ember model repository. Errors are {\"error\": message}."},
      "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
          "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "string"}}},
          "TFStatus": {"type": "object", "required": ["model_version_status"], "properties": {"model_version_status": {"type": "array", "items": {
            "type": "object", "properties": {"version": {"type": "string"}, "state": {"type": "string", "enum": ["LOADING", "AVAILABLE", "END"]},
            "status": {"type": "object", "properties": {"error_code": {"type": "string"}, "error_message": {"type": "string"}}}}}}}},
          "TFMetadata": {"type": "object", "required": ["model_spec", "metadata"], "properties": {"model_spec": {"type": "object"}, "metadata": {"type": "object"}}},
          "TFPredictRequest": {"type": "object", "properties": {
            "signature_name": {"type": "string"},
            "instances": {"type": "array", "description": "Row format: one example per item (a text, a feature row, pixel values [C][H][W], or {\"b64\": image file})", "items": {}},
            "inputs": {"description": "Columnar format: an array of examples, or {\"NAME\": [examples]}"}}},
          "TFPredictResponse": {"type": "object", "properties": {"predictions": {"type": "array", "items": {}}, "outputs": {}}},
          "TFClassifyRequest": {"type": "object", "required": ["examples"], "properties": {"signature_name": {"type": "string"},
            "examples": {"type": "array", "items": {"type": "object"}}}},
          "TFClassifyResponse": {"type": "object", "required": ["results"], "properties": {"results": {"type": "array", "items": {"type": "array", "items": {
            "type": "array", "minItems": 2, "maxItems": 2, "items": {}}}}}},
          "TensorMetadata": {"type": "object", "required": ["name", "datatype", "shape"], "properties": {"name": {"type": "string"},
            "datatype": {"type": "string"}, "shape": {"type": "array", "items": {"type": "integer"}}}},
          "ServerMetadata": {"type": "object", "required": ["name", "version", "extensions"], "properties": {"name": {"type": "string"},
            "version": {"type": "string"}, "extensions": {"type": "array", "items": {"type": "string"}}}},
          "ModelMetadata": {"type": "object", "required": ["name", "platform", "inputs", "outputs"], "properties": {"name": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "string"}}, "platform": {"type": "string"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}},
            "outputs": {"type": "array", "items": {"$ref": "#/components/schemas/TensorMetadata"}}}},
          "RequestInput": {"type": "object", "required": ["name", "shape", "datatype", "data"], "properties": {"name": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer", "minimum": 0}}, "datatype": {"type": "string",
            "enum": ["BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16", "FP32", "FP64", "BYTES"]},
            "parameters": {"type": "object"}, "data": {"type": "array", "items": {}}}},
          "InferenceRequest": {"type": "object", "required": ["inputs"], "properties": {"id": {"type": "string"}, "parameters": {"type": "object"},
            "inputs": {"type": "array", "items": {"$ref": "#/components/schemas/RequestInput"}},
            "outputs": {"type": "array", "items": {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}}}},
          "InferenceResponse": {"type": "object", "required": ["model_name", "outputs"], "properties": {"model_name": {"type": "string"},
            "model_version": {"type": "string"}, "id": {"type": "string"}, "outputs": {"type": "array", "items": {"type": "object",
            "required": ["name", "shape", "datatype", "data"], "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
            "shape": {"type": "array", "items": {"type": "integer"}}, "data": {"type": "array", "items": {}}}}}}}
        },
        "responses": {
          "Error": {"description": "Refused: the message names the field", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        },
        "parameters": {
          "name": {"name": "name", "in": "path", "required": true, "schema": {"type": "string"}},
          "version": {"name": "version", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 0}}
        }
      },
      "security": [{}, {"bearer": []}],
      "paths": {
        "/v1/models/{name}": {"get": {"summary": "TF Serving model status", "parameters": [{"$ref": "#/components/parameters/name"}],
          "responses": {"200": {"description": "Versions and states", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TFStatus"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v1/models/{name}/versions/{version}": {"get": {"summary": "TF Serving status of one version",
          "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/version"}],
          "responses": {"200": {"description": "The version's state", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TFStatus"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v1/models/{name}/metadata": {"get": {"summary": "TF Serving signature", "parameters": [{"$ref": "#/components/parameters/name"}],
          "responses": {"200": {"description": "The serving_default signature", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TFMetadata"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v1/models/{name}:predict": {"post": {"summary": "TF Serving predict (row or columnar format)", "parameters": [{"$ref": "#/components/parameters/name"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TFPredictRequest"}}}},
          "responses": {"200": {"description": "Outputs per example", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TFPredictResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v1/models/{name}:classify": {"post": {"summary": "TF Serving classify", "parameters": [{"$ref": "#/components/parameters/name"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TFClassifyRequest"}}}},
          "responses": {"200": {"description": "Labels and probabilities, most likely first", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TFClassifyResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v2": {"get": {"summary": "Server metadata", "responses": {"200": {"description": "Name and version",
          "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ServerMetadata"}}}}, "default": {"$ref": "#/components/responses/Error"}}}},
        "/v2/health/live": {"get": {"summary": "Liveness", "security": [], "responses": {"200": {"description": "Live"}}}},
        "/v2/health/ready": {"get": {"summary": "Readiness: every model serves a version", "security": [],
          "responses": {"200": {"description": "Ready"}, "503": {"description": "Not ready"}}}},
        "/v2/models/{name}": {"get": {"summary": "Model metadata", "parameters": [{"$ref": "#/components/parameters/name"}],
          "responses": {"200": {"description": "Inputs and outputs", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelMetadata"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v2/models/{name}/versions/{version}": {"get": {"summary": "Metadata of one version",
          "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/version"}],
          "responses": {"200": {"description": "Inputs and outputs", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ModelMetadata"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v2/models/{name}/ready": {"get": {"summary": "Model readiness", "parameters": [{"$ref": "#/components/parameters/name"}],
          "responses": {"200": {"description": "Ready"}, "default": {"$ref": "#/components/responses/Error"}}}},
        "/v2/models/{name}/infer": {"post": {"summary": "Inference with typed tensors", "parameters": [{"$ref": "#/components/parameters/name"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}}}},
          "responses": {"200": {"description": "Output tensors", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/v2/models/{name}/versions/{version}/infer": {"post": {"summary": "Inference on one version",
          "parameters": [{"$ref": "#/components/parameters/name"}, {"$ref": "#/components/parameters/version"}],
          "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceRequest"}}}},
          "responses": {"200": {"description": "Output tensors", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/InferenceResponse"}}}},
                        "default": {"$ref": "#/components/responses/Error"}}}},
        "/metrics": {"get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "Text exposition format",
          "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.0",
          "content": {"application/json": {"schema": {"type": "object"}}}}}}}
      }
    }
    """#
}

extension Dictionary where Key == String, Value == JSONValue {
    var json: JSONValue { .object(self) }
}
