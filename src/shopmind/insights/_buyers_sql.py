"""The count of buyers as SQL, for commands that must start quickly (``shopmind status``): the text
Ibis compiles :func:`shopmind.insights.buyer_expression` (the features' one definition of a
purchase) to, generated, not written by hand. ``tests/test_counts_sql.py`` compiles the expression
again and fails, showing the new text, whenever the two differ (a new column of ``orders``, a
changed definition): paste it here."""

BUYERS_SQL = """
SELECT
  COUNT(DISTINCT "t14"."profile_id") AS "CountDistinct(profile_id)"
FROM (
  SELECT
    *
  FROM (
    SELECT
      "t12"."profile_id",
      "t12"."order_id",
      "t12"."ordered_at",
      "t8"."value"
    FROM (
      SELECT
        "t10".*
        EXCLUDE ("kind", "identifier", "_identifier")
      FROM (
        SELECT
          "t9"."order_id",
          "t9"."ordered_at",
          "t9"."customer_id",
          "t9"."anonymous_id",
          "t9"."email_hash",
          "t9"."phone_hash",
          "t9"."currency",
          "t9"."country",
          "t9"."region",
          "t9"."channel",
          "t9"."device_type",
          "t9"."is_return",
          "t9"."source",
          "t9"."verified",
          "t9"."_identifier",
          "t9"."identifier",
          COALESCE("t9"."profile_id", "t9"."_identifier") AS "profile_id",
          "t9"."kind"
        FROM (
          SELECT
            "t6"."order_id",
            "t6"."ordered_at",
            "t6"."customer_id",
            "t6"."anonymous_id",
            "t6"."email_hash",
            "t6"."phone_hash",
            "t6"."currency",
            "t6"."country",
            "t6"."region",
            "t6"."channel",
            "t6"."device_type",
            "t6"."is_return",
            "t6"."source",
            "t6"."verified",
            "t6"."_identifier",
            "t3"."identifier",
            "t3"."profile_id",
            "t3"."kind"
          FROM (
            SELECT
              "t1"."order_id",
              "t1"."ordered_at",
              "t1"."customer_id",
              "t1"."anonymous_id",
              "t1"."email_hash",
              "t1"."phone_hash",
              "t1"."currency",
              "t1"."country",
              "t1"."region",
              "t1"."channel",
              "t1"."device_type",
              "t1"."is_return",
              "t1"."source",
              "t1"."verified",
              COALESCE(
                'user:' || "t1"."customer_id",
                'email:' || "t1"."email_hash",
                'phone:' || "t1"."phone_hash"
              ) AS "_identifier"
            FROM "orders" AS "t1"
            WHERE
              NOT (
                "t1"."is_return"
              )
              AND "t1"."verified"
              AND COALESCE(
                'user:' || "t1"."customer_id",
                'email:' || "t1"."email_hash",
                'phone:' || "t1"."phone_hash"
              ) IS NOT NULL
          ) AS "t6"
          LEFT OUTER JOIN "profiles" AS "t3"
            ON "t6"."_identifier" = "t3"."identifier"
        ) AS "t9"
      ) AS "t10"
    ) AS "t12"
    INNER JOIN (
      SELECT
        "t4"."order_id",
        CAST(ROUND(SUM("t4"."quantity" * "t4"."unit_price"), 6) AS DOUBLE) AS "value"
      FROM (
        SELECT
          *
        FROM "order_lines" AS "t0"
        WHERE
          "t0"."is_product" AND NOT (
            "t0"."is_return"
          )
      ) AS "t4"
      GROUP BY
        1
    ) AS "t8"
      ON "t12"."order_id" = "t8"."order_id"
  ) AS "t13"
  WHERE
    "t13"."value" > 0
) AS "t14"
"""
