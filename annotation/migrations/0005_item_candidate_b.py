"""Item.candidate_right becomes Item.candidate_b: one name (A / B) for the two sides of a
pair. A rename keeps every row; the unique constraint is made again over the new name
(Django's migration state does not carry a constraint's fields through a rename)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0004_study_status_paused"),
        ("generation", "0003_system_kind_from_vocabulary"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="item", name="item_unique_per_study"),
        migrations.RenameField(
            model_name="item", old_name="candidate_right", new_name="candidate_b"
        ),
        migrations.AlterField(
            model_name="item",
            name="candidate_b",
            field=models.ForeignKey(
                blank=True,
                help_text="pairs: side B (shown on the right); empty for ratings",
                null=True,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="generation.candidate",
            ),
        ),
        migrations.AlterField(
            model_name="item",
            name="candidate",
            field=models.ForeignKey(
                help_text="the rated response; for pairs side A (shown on the left)",
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="generation.candidate",
            ),
        ),
        migrations.AddConstraint(
            model_name="item",
            constraint=models.UniqueConstraint(
                fields=("study", "candidate", "candidate_b"), name="item_unique_per_study"
            ),
        ),
    ]
