"""The lake as data: which tables exist (`catalog`), and how to read them without a JVM (`read`,
`progress`, `checkpoints`, `kafka_offsets`)."""
