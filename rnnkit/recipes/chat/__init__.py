"""The chatbot recipe: an attentional encoder-decoder that answers the last turns of a conversation."""
