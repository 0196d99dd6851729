"""Vision-language model services: the Gemini client, object counting and the editor's self-evaluation."""
