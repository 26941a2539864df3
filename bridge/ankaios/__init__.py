"""The Ankaios side: the control-interface FIFOs, framing, protocol, handshake, reader, feeds."""
