"""The axis connector: edXML packages for the National Document Exchange Axis (QCVN
102:2016/BTTTT, amended 2022), their signing and verification, and status messages.

The domain modules (model, parsing, building, sign, verify, status_message, status) use
signer for signatures and verification and ca_admin only through ca_admin.facade; api, cli
and views are their adapters, wired in by the composition root (app/).
"""
