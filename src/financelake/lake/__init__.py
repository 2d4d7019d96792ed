"""Reading the lake without a JVM: Delta tables (`read`), the streaming progress files
(`progress`), query checkpoints (`checkpoints`) and the topic's watermarks (`kafka_offsets`)."""
