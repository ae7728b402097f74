"""Models: the vision networks (VGG16, PreAct ResNets, the scale-invariant ResNet) and the GPT-2 decoder."""
