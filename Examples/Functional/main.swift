// Keras's functional API in Ember: the two models of the Keras guide, built from symbolic
// inputs, summarized and trained for a few steps on generated data.
//
//     swift run -c release example-functional
import Ember
import EmberData
import EmberNN
import EmberOptim
import EmberTrain
import Foundation

manualSeed(0)

// 1. The MNIST model: Input 784 → Dense 64 relu → Dense 64 relu → Dense 10 softmax.
// (Keras trains it with sparse categorical cross-entropy on the softmax; Ember's fit takes
// logits, so the last layer here is left linear and the loss applies the softmax.)
let inputs = Input(shape: [784])
var x = Dense(64, activation: .relu)(inputs)
x = Dense(64, activation: .relu)(x)
let outputs = Dense(10)(x)
let mnist = FunctionalModel(inputs: [inputs], outputs: [outputs], name: "mnist_model")
print(mnist.summary())

// Generated digits: 784 random pixels, the class a fixed linear function of them.
let pixels = Tensor.randomUniform([512, 784])
let labels = matmul(pixels - 0.5, Tensor.randomNormal([784, 10])).argmax(axis: 1)
let digits = DataLoader(TensorDataset(pixels, labels), batchSize: 64, shuffle: true)
let trainer = Trainer(model: mnist, optimizer: Adam(mnist.parameters(), lr: 1e-3), loss: CrossEntropyLoss(),
                      metrics: [Accuracy()], callbacks: [ProgressLogger()])
let history = try trainer.fit(digits, epochs: 3)
print("MNIST model, training loss by epoch: \(history["loss"]!)\n")

// 2. Two inputs: a text and a 224×224 RGB image, channels-last as Keras reads it.
let textInput = Input(shape: [nil], dtype: .int64, name: "text")   // any number of tokens
let embeddedText = Embedding(10000, 128)(textInput)
let encodedText = LastOutput(LSTM(inputSize: 128, hiddenSize: 64, batchFirst: true))(embeddedText)   // Keras's LSTM(64)

let imageInput = Input(shape: [224, 224, 3], name: "image")
var image = ChannelsFirst()(imageInput)          // Ember's convolutions read [N, C, H, W]
image = ReLU()(Conv2d(3, 32, kernelSize: 3)(image))
let encodedImage = GlobalMaxPooling2D()(image)

let concatenated = Concatenate()([encodedText, encodedImage])
let output = Dense(1, activation: .sigmoid)(concatenated, name: "output")
let model = FunctionalModel(inputs: [textInput, imageInput], outputs: [output], name: "text_and_image")
print(model.summary())
try model.writeGraphSVG(to: URL(fileURLWithPath: "text_and_image.svg"))
print("Wrote text_and_image.svg, the layer graph")

// Keras's fit with named inputs: a few batches of generated pairs, the label is whether the
// image is bright.
let texts = Tensor.randomIntegers([12, 12], high: 10000)
let images = Tensor.randomUniform([12, 224, 224, 3])
let bright = (images.mean(axes: [1, 2, 3]) .> 0.5).cast(to: .float32).unsqueezed(axis: 1)
let pairs = DataLoader(NamedTensorDataset(inputs: ["text": texts, "image": images], targets: ["output": bright]), batchSize: 4)
let pairTrainer = Trainer(model: model, optimizer: Adam(model.parameters(), lr: 1e-3), losses: ["output": BCELoss()])
let pairHistory = try pairTrainer.fit(pairs, epochs: 2)
print("two-input model, loss by epoch: \(pairHistory["loss"]!)")
