"""A key is known by its hash (issue 13, item 23): a key revoked for keyCompromise is never
certified again, and one key is certified for one subject only.

key_sha256 is the SHA-256 of the key itself (RSA modulus and exponent; EC curve and point),
so that two encodings of one key (RSA parameters NULL or absent, a compressed EC point) are
the same key. Existing certificates get it from their DER.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _key_sha256(spki_der: bytes) -> str:
    # A copy of ca_admin.profiles.key_sha256 as it was when written: a migration must not
    # change with the code.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_der_public_key(spki_der)
    except (ValueError, TypeError):
        key = None
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        text = f"rsa:{numbers.n:x}:{numbers.e:x}"
    elif isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        text = f"ec:{key.curve.name}:{point.x:x}:{point.y:x}"
    elif key is not None:
        text = "spki:" + key.public_bytes(serialization.Encoding.DER,
                                          serialization.PublicFormat.SubjectPublicKeyInfo).hex()
    else:
        text = f"der:{spki_der.hex()}"
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def upgrade() -> None:
    for table in ("certificate_requests", "certificates"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("key_sha256", sa.String(64), nullable=True))
            batch.create_index(f"ix_{table}_key_sha256", ["key_sha256"])
    from asn1crypto import x509

    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, certificate_der FROM certificates")).fetchall()
    for row_id, der in rows:
        spki = x509.Certificate.load(bytes(der)).public_key.dump()
        conn.execute(sa.text("UPDATE certificates SET key_sha256 = :h WHERE id = :i"),
                     {"h": _key_sha256(spki), "i": row_id})
    rows = conn.execute(sa.text("SELECT id, spki_der FROM certificate_requests WHERE spki_der IS NOT NULL")).fetchall()
    for row_id, spki in rows:
        conn.execute(sa.text("UPDATE certificate_requests SET key_sha256 = :h WHERE id = :i"),
                     {"h": _key_sha256(bytes(spki)), "i": row_id})


def downgrade() -> None:
    for table in ("certificates", "certificate_requests"):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_key_sha256")
            batch.drop_column("key_sha256")
