"""The committed reference model and the scripts that train it and write its model card."""
