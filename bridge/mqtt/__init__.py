"""The MQTT side: the paho client, the broker link, the publish window, reconnecting."""
