// PLACEHOLDER: replaced by the data module's owner.
