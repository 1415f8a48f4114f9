from . import test_conversation, test_flow_steps, test_import, test_matching, test_public_page, test_security
